-- punchr storage contract, version 5: the IP versions a remote can be punched on. A protocol
-- filter of an IP version the remote has no address of is no measurement (the client punches
-- unfiltered and says so), so GetAddrInfo draws the filter among the versions the remote's
-- honeypot visits showed: the public address it connected from, and the public non-relay
-- addresses it advertised (src/db/connection-events.ts). NULL = not known (no such address).
ALTER TABLE remote_candidates ADD COLUMN ip_versions SMALLINT[];

UPDATE remote_candidates rc SET ip_versions = (
  SELECT array_agg(DISTINCT ma.ip_version ORDER BY ma.ip_version)
  FROM connection_events ce
  JOIN multi_addresses ma
    ON ma.id = ce.multi_address_id
    OR ma.id IN (SELECT x.multi_address_id FROM connection_events_x_multi_addresses x
                 WHERE x.connection_event_id = ce.id)
  WHERE ce.remote_id = rc.peer_id
    AND ma.is_public AND ma.ip_version IS NOT NULL AND ma.maddr NOT LIKE '%/p2p-circuit%'
);
