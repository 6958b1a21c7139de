-- punchr storage contract, version 8: why a punch failed, the client's side (docs/OUTCOMES.md,
-- "Client NAT behaviour"). Our client classifies each host's NAT mapping per path (transport
-- and IP version) from the addresses its bootstrap peers observe, and reports it in the
-- TrackHolePunch extension field 100 (docs/PROTOCOL.md, "Extensions"); other clients send none.

-- Every path the host reported, as classified when the report was made.
CREATE TABLE client_nat_behaviours (
  hole_punch_result_id BIGINT   NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE,
  transport            TEXT     NOT NULL CHECK (transport IN ('tcp', 'quic')),
  ip_version           SMALLINT NOT NULL CHECK (ip_version IN (4, 6)),
  -- RFC 4787 mapping behaviour; 'endpoint-dependent' = not endpoint-independent, the port's
  -- part untested (no two observers at one IP); 'unknown' = fewer than two observer IPs.
  mapping              TEXT     NOT NULL CHECK (mapping IN ('endpoint-independent', 'address-dependent',
                         'address-and-port-dependent', 'endpoint-dependent', 'unknown')),
  port_preserved       BOOLEAN,            -- every observer saw the local port; NULL = unknown
  observations         SMALLINT NOT NULL,  -- observers (distinct address and port) used
  observer_ips         SMALLINT NOT NULL,  -- their distinct IP addresses
  PRIMARY KEY (hole_punch_result_id, transport, ip_version)
);

-- The mapping on the round's own path (its protocol filter's transport and IP version; any
-- where the filter leaves one open, 'mixed' where those disagree): what the dashboard groups
-- by. NULL for results of clients that do not classify (all results stored before).
ALTER TABLE hole_punch_results ADD COLUMN client_nat_mapping TEXT;

-- The dashboard's breakdowns by client NAT mapping and by port mapping presence
-- (hole_punch_result_counts): the same keys as RESULT_GROUPS in src/db/hole-punches.ts (every
-- result stored before says 'not reported').
INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
SELECT 'client-nat-mapping', date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
  coalesce(r.client_nat_mapping, 'not reported'), r.outcome, count(*)
FROM hole_punch_results r
GROUP BY 1, 2, 3, 4;

INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
SELECT 'client-port-mapping', date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
  CASE WHEN EXISTS (SELECT 1 FROM port_mappings pm WHERE pm.hole_punch_result_id = r.id) THEN 'mapped' ELSE 'none' END,
  r.outcome, count(*)
FROM hole_punch_results r
GROUP BY 1, 2, 3, 4;
