-- punchr storage contract, version 9: remotes recorded without listing /libp2p/dcutr.
-- Stock rust-libp2p lists /libp2p/dcutr only on relayed connections it dialled, never on the
-- direct one to the honeypot, yet punches as the DCUtR initiator (docs/INTEROP.md, R1). The
-- honeypot records a relay-only peer whose agent names rust-libp2p and that runs the relay
-- client as a candidate too (src/honeypot/qualify.ts), marked here, so that an analysis can
-- tell the results of such inferred remotes from those of remotes that announced DCUtR
-- (their NO_STREAM rounds say when the inference was wrong).
ALTER TABLE connection_events ADD COLUMN dcutr_inferred BOOLEAN NOT NULL DEFAULT false;
