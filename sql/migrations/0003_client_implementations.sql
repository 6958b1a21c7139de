-- punchr storage contract, version 3: old punchr clients (issue 15). The server tells the
-- original Go and Rust clients apart from ours by their agent version, serves each only
-- addresses and protocol filters it can use (src/server/client-capabilities.ts), and stores
-- their reports with their known quirks normalised and named (src/server/quirks.ts, the table
-- in docs/INTEROP.md), so an analysis can keep or exclude those rows.

-- The IP versions a client host can punch from: those of the listen addresses of its latest
-- report that reach beyond the host (not loopback, link-local or unspecified). GetAddrInfo
-- serves an IP version filter only for these; NULL until the host's first report.
ALTER TABLE clients ADD COLUMN listen_ip_versions SMALLINT[];

ALTER TABLE hole_punch_results
  -- The punchr client that reported the result, from its host's agent version at the time:
  -- 'punchr-ts' (this project's), 'punchr-go', 'punchr-rust' (the original's), 'other'.
  ADD COLUMN client_implementation TEXT NOT NULL DEFAULT 'other',
  -- What the server normalised in the report before storing it: known quirks of that client
  -- (codes in docs/INTEROP.md, "Known quirks"), and `remote-nul-in-text`, NUL characters a
  -- remote put into the report's texts, dropped (docs/OUTCOMES.md, "Text"). Empty for a report
  -- stored as sent.
  ADD COLUMN quirks TEXT[] NOT NULL DEFAULT '{}';

-- Results stored before: their client's current agent version tells the implementation. Their
-- quirks are unknown (they were stored as sent) and stay empty.
UPDATE hole_punch_results r
SET client_implementation = CASE
    WHEN p.agent_version LIKE 'punchr/ts-client/%' THEN 'punchr-ts'
    WHEN p.agent_version LIKE 'punchr/go-client/%' THEN 'punchr-go'
    WHEN p.agent_version LIKE 'punchr/rust-client/%' THEN 'punchr-rust'
    ELSE 'other' END
FROM clients c JOIN peers p ON p.id = c.peer_id
WHERE c.id = r.client_id;

-- The dashboard's breakdown by client implementation (hole_punch_result_counts, dimension
-- `client-implementation`): the implementation, with ` (normalised)` for results whose quirks
-- were normalised. The same key as RESULT_GROUPS in src/db/hole-punches.ts.
INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
SELECT 'client-implementation', date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
  r.client_implementation || CASE WHEN cardinality(r.quirks) > 0 THEN ' (normalised)' ELSE '' END, r.outcome, count(*)
FROM hole_punch_results r
GROUP BY 1, 2, 3, 4;
