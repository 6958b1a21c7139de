-- punchr storage contract, version 10: honeypots say that they run and walk.
-- Connection events show only that a honeypot found a qualifying peer; a honeypot that runs
-- and walks but meets none (a new campaign, no internet) leaves nothing behind. So every
-- honeypot keeps one row here (src/honeypot/heartbeat.ts): written at its start, after every
-- walk, every minute in between and at its stop. The server's dashboard (perhaps another
-- process on another machine) reads it to tell an operator whether a honeypot writes to this
-- database and walks (docs/DASHBOARD.md, "A new campaign").
CREATE TABLE honeypot_heartbeats (
  peer_id          TEXT PRIMARY KEY,        -- the honeypot's peer ID (base58btc); a restart keeps its row
  started_at       TIMESTAMPTZ NOT NULL,    -- when this run of the honeypot started
  beat_at          TIMESTAMPTZ NOT NULL,    -- when the row was last written (the database's clock)
  walks_enabled    BOOLEAN NOT NULL,        -- it has bootstrap peers; false: --bootstrap-peers '' (never walks)
  last_walk_at     TIMESTAMPTZ,             -- when its last walk ended; NULL: none yet in this run
  last_walk_result TEXT,                    -- that walk's result: ok, no_peers, failed
  events_recorded  BIGINT NOT NULL,         -- connection events it stored in this run
  stopped_at       TIMESTAMPTZ              -- set by its orderly stop; NULL while it runs (or crashed)
);
