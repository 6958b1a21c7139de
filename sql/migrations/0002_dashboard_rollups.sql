-- punchr storage contract, version 2: what the dashboard reads instead of aggregating raw rows
-- (issue 8: the page under one second with 1 M results). insertHolePunchReport fills all of
-- it in the report's transaction; this migration computes it for the results stored before.
-- Every number stays what the raw rows give (docs/DASHBOARD.md, "What the numbers mean").

-- Facts of a result that its views group by, fixed when it is stored (the addresses' geo data
-- is classified once, when an address is first seen), so they need no join at query time.
ALTER TABLE hole_punch_results
  ADD COLUMN success_attempt SMALLINT,  -- first attempt whose outcome is SUCCESS or DIRECT_DIAL; NULL when none
  ADD COLUMN client_country  CHAR(2),   -- of the client's first (lowest id) listen address with geo data
  ADD COLUMN client_asn      BIGINT,    -- of that same address
  ADD COLUMN remote_country  CHAR(2),   -- of the first (lowest id) address with geo data the remote offered in an attempt
  ADD COLUMN remote_asn      BIGINT;    -- of that same address

-- The stored time of the result an attempt or latency measurement belongs to, so that a time
-- range finds its RTTs through the value indexes below without joining the results.
ALTER TABLE hole_punch_attempts ADD COLUMN result_created_at TIMESTAMPTZ;
ALTER TABLE latency_measurements ADD COLUMN result_created_at TIMESTAMPTZ;

-- The bin of an RTT (seconds) on the dashboard's fixed log-spaced edges (logEdges() in
-- src/dashboard/statistics.ts: 0, then ten per decade from 0.1 ms to 1000 s; a test keeps the
-- two equal), numbered like width_bucket: 0 below 0, 72 from 1000 s up.
CREATE FUNCTION rtt_bin(seconds DOUBLE PRECISION) RETURNS INTEGER LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT width_bucket(seconds, '{0,0.0001,0.000126,0.000158,0.0002,0.000251,0.000316,0.000398,0.000501,0.000631,0.000794,0.001,0.00126,0.00158,0.002,0.00251,0.00316,0.00398,0.00501,0.00631,0.00794,0.01,0.0126,0.0158,0.02,0.0251,0.0316,0.0398,0.0501,0.0631,0.0794,0.1,0.126,0.158,0.2,0.251,0.316,0.398,0.501,0.631,0.794,1,1.26,1.58,2,2.51,3.16,3.98,5.01,6.31,7.94,10,12.6,15.8,20,25.1,31.6,39.8,50.1,63.1,79.4,100,126,158,200,251,316,398,501,631,794,1000}'::double precision[])
$$;

-- Results per UTC hour of created_at, outcome and group of one dimension: `outcome` (key ''),
-- `transport` and `ip-version` (of the protocol filter), `client-country`, `client-asn`,
-- `remote-country`, `remote-asn`, and for SUCCESS results `success-attempt` and
-- `final-connection` (transport/IP version). Keys are as the dashboard shows them.
CREATE TABLE hole_punch_result_counts (
  dimension TEXT NOT NULL,                -- what `key` groups by
  hour      TIMESTAMPTZ NOT NULL,         -- start of the UTC hour the results were stored in
  key       TEXT NOT NULL,                -- the group ('tcp', 'DE', 'AS3320', 'unknown', …)
  outcome   hole_punch_outcome NOT NULL,  -- the results' outcome
  results   INTEGER NOT NULL,             -- how many
  PRIMARY KEY (dimension, hour, key, outcome)
);

-- RTT histograms per UTC hour: `start-rtt` of SUCCESS and FAILED attempts (name = the attempt
-- outcome) and `latency`, each measurement's mean of its successful pings (name = mtype).
CREATE TABLE rtt_histograms (
  kind  TEXT NOT NULL,         -- 'start-rtt' or 'latency'
  name  TEXT NOT NULL,         -- the series: attempt outcome or latency measurement type
  hour  TIMESTAMPTZ NOT NULL,  -- start of the UTC hour the results were stored in
  bin   SMALLINT NOT NULL,     -- rtt_bin() of the values
  n     INTEGER NOT NULL,      -- how many values
  PRIMARY KEY (kind, name, hour, bin)
);

-- When each client host and each remote last had a result stored. A range that ends after the
-- newest result (the page's presets end now) holds results of exactly the hosts whose last
-- result is in it, so its distinct hosts are counted here instead of from its results.
CREATE TABLE last_results (
  role       TEXT NOT NULL,         -- 'client' (id = clients.id) or 'remote' (id = peers.id)
  id         BIGINT NOT NULL,       -- the client host or remote
  created_at TIMESTAMPTZ NOT NULL,  -- created_at of its newest result
  PRIMARY KEY (role, id)
);
CREATE INDEX last_results_created_idx ON last_results (role, created_at);

-- Backfill, in the order insertHolePunchReport computes the same: facts, copies of the time,
-- last results, counts, histograms. The created_at index is rebuilt afterwards (below), not kept up to date
-- row by row.
DROP INDEX hole_punch_results_created_idx;
UPDATE hole_punch_results r
SET success_attempt = f.success_attempt, client_country = f.client_country, client_asn = f.client_asn,
  remote_country = f.remote_country, remote_asn = f.remote_asn
FROM (
  SELECT r.id, sa.success_attempt, cm.country AS client_country, cm.asn AS client_asn,
    rm.country AS remote_country, rm.asn AS remote_asn
  FROM hole_punch_results r
  LEFT JOIN (SELECT hole_punch_result_id AS id, min(attempt_number) AS success_attempt FROM hole_punch_attempts
             WHERE outcome IN ('SUCCESS', 'DIRECT_DIAL') GROUP BY 1) sa ON sa.id = r.id
  LEFT JOIN (SELECT x.hole_punch_result_id AS id, min(m.id) AS address
             FROM hole_punch_results_x_listen_multi_addresses x JOIN multi_addresses m ON m.id = x.multi_address_id
             WHERE m.country IS NOT NULL OR m.asn IS NOT NULL GROUP BY 1) ca ON ca.id = r.id
  LEFT JOIN multi_addresses cm ON cm.id = ca.address
  LEFT JOIN (SELECT a.hole_punch_result_id AS id, min(m.id) AS address
             FROM hole_punch_attempts a JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = a.id
             JOIN multi_addresses m ON m.id = x.multi_address_id
             WHERE m.country IS NOT NULL OR m.asn IS NOT NULL GROUP BY 1) ra ON ra.id = r.id
  LEFT JOIN multi_addresses rm ON rm.id = ra.address
  WHERE sa.id IS NOT NULL OR ca.id IS NOT NULL OR ra.id IS NOT NULL
) f
WHERE f.id = r.id;

UPDATE hole_punch_attempts a SET result_created_at = r.created_at
FROM hole_punch_results r WHERE r.id = a.hole_punch_result_id;

UPDATE latency_measurements l SET result_created_at = r.created_at
FROM hole_punch_results r WHERE r.id = l.hole_punch_result_id;

INSERT INTO last_results (role, id, created_at)
SELECT 'client', client_id, max(created_at) FROM hole_punch_results GROUP BY 2
UNION ALL
SELECT 'remote', remote_id, max(created_at) FROM hole_punch_results GROUP BY 2;

INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
SELECT d.dimension, date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', d.key, r.outcome, count(*)
FROM hole_punch_results r CROSS JOIN LATERAL (VALUES
  ('outcome', ''),
  ('transport', CASE WHEN 6 = ANY(r.protocols) THEN 'tcp' WHEN r.protocols && ARRAY[460, 461] THEN 'quic' ELSE 'unfiltered' END),
  ('ip-version', CASE WHEN 4 = ANY(r.protocols) THEN 'ip4' WHEN 41 = ANY(r.protocols) THEN 'ip6' ELSE 'unfiltered' END),
  ('client-country', coalesce(r.client_country::text, 'unknown')),
  ('client-asn', coalesce('AS' || r.client_asn::text, 'unknown')),
  ('remote-country', coalesce(r.remote_country::text, 'unknown')),
  ('remote-asn', coalesce('AS' || r.remote_asn::text, 'unknown')),
  ('success-attempt', CASE WHEN r.outcome = 'SUCCESS' THEN coalesce(r.success_attempt::text, 'none') END),
  ('final-connection', CASE WHEN r.outcome = 'SUCCESS' THEN coalesce(r.final_transport, 'none') || '/' || coalesce(r.final_ip_version::text, '') END)
) AS d(dimension, key)
WHERE d.key IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO rtt_histograms (kind, name, hour, bin, n)
SELECT 'start-rtt', outcome::text, date_trunc('hour', result_created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', rtt_bin(start_rtt), count(*)
FROM hole_punch_attempts WHERE start_rtt IS NOT NULL AND outcome IN ('SUCCESS', 'FAILED') GROUP BY 1, 2, 3, 4
UNION ALL
SELECT 'latency', mtype::text, date_trunc('hour', result_created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', rtt_bin(rtt_avg), count(*)
FROM latency_measurements WHERE rtt_avg IS NOT NULL GROUP BY 1, 2, 3, 4;

-- What cannot be counted ahead (distinct hosts of a range that ends before the newest result,
-- the remotes' current agents) reads these columns of a range's results from the index alone.
CREATE INDEX hole_punch_results_created_idx ON hole_punch_results (created_at) INCLUDE (outcome, client_id, remote_id);

-- Exact medians: the histogram says in which bins the middle values of a range lie; these
-- indexes find the values of the range in those bins, without reading the others.
CREATE INDEX hole_punch_attempts_start_rtt_idx ON hole_punch_attempts (outcome, rtt_bin(start_rtt), result_created_at)
  INCLUDE (start_rtt) WHERE start_rtt IS NOT NULL;
CREATE INDEX latency_measurements_rtt_avg_idx ON latency_measurements (mtype, rtt_bin(rtt_avg), result_created_at)
  INCLUDE (rtt_avg) WHERE rtt_avg IS NOT NULL;
