-- punchr storage contract, version 6: every change to an API key is announced on the channel
-- punchr_api_keys (payload: the authorization's id). Each server process caches the keys it
-- has checked and LISTENs there, so a key revoked by any process (`punchr keys revoke`, SQL by
-- hand) stops working on all of them at once (src/server/api-key-cache.ts).
CREATE FUNCTION notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('punchr_api_keys', OLD.id::text); RETURN NULL; END $$;

CREATE TRIGGER api_key_change AFTER UPDATE OR DELETE ON authorizations
  FOR EACH ROW EXECUTE FUNCTION notify_api_key_change();
