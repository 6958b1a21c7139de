-- punchr storage contract, version 11: results partitioned by month (docs/ARCHITECTURE.md,
-- "Monthly partitions"). hole_punch_results and every table that hangs off it are partitioned
-- by the result's stored time (created_at; result_created_at in the child tables, a copy of it),
-- one partition per UTC month and table, named <table>_YYYY_MM. A query over a time range reads
-- only its months, and an old month leaves the database whole: `punchr archive` detaches its
-- partitions, writes them as Parquet and drops them.
--
-- Partitions are made ahead: this migration makes them for every month that has results, and
-- for the current and the next month; the server makes the current and the next month's at its
-- start and every hour after (src/db/partitions.ts).
--
-- Unique constraints of a partitioned table must contain its partition key, so the report
-- digest that makes retries idempotent moved to a table of its own, which is not partitioned:
-- a retry of a report is recognised whenever it comes, also after its month was archived.
--
-- The child tables have no foreign key to their result (or attempt) any more: a row's check
-- against a partitioned table cost the group commit 15–25 % of its reports per second
-- (docs/benchmarks.md, "A year of results"). Only the server writes these rows, a result and
-- all of its rows in one transaction, and a month leaves the database whole, so nothing is
-- left to point nowhere. Their foreign keys to peers and multi_addresses stay.
--
-- Existing rows are copied into the new tables (ids kept, sequences carried over); this takes
-- a while on a large database, once.

-- 1. The old tables step aside: renamed, their keys and indexes dropped (the new tables take
-- their names; the data needs none of them to be copied).
ALTER TABLE hole_punch_results RENAME TO old_hole_punch_results;
ALTER TABLE hole_punch_results_x_multi_addresses RENAME TO old_hole_punch_results_x_multi_addresses;
ALTER TABLE hole_punch_results_x_listen_multi_addresses RENAME TO old_hole_punch_results_x_listen_multi_addresses;
ALTER TABLE hole_punch_attempts RENAME TO old_hole_punch_attempts;
ALTER TABLE hole_punch_attempts_x_multi_addresses RENAME TO old_hole_punch_attempts_x_multi_addresses;
ALTER TABLE latency_measurements RENAME TO old_latency_measurements;
ALTER TABLE port_mappings RENAME TO old_port_mappings;
ALTER TABLE network_information RENAME TO old_network_information;
ALTER TABLE client_nat_behaviours RENAME TO old_client_nat_behaviours;

ALTER SEQUENCE hole_punch_results_id_seq OWNED BY NONE;
ALTER SEQUENCE hole_punch_attempts_id_seq OWNED BY NONE;
ALTER SEQUENCE latency_measurements_id_seq OWNED BY NONE;
ALTER SEQUENCE port_mappings_id_seq OWNED BY NONE;
ALTER SEQUENCE network_information_id_seq OWNED BY NONE;

DO $$
DECLARE
  c record;
BEGIN
  -- Foreign keys first: a primary key cannot go while one refers to it. Checks go too, so
  -- that the new tables' checks get the old names.
  FOR c IN
    SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
    WHERE conrelid::regclass::text LIKE 'old\_%' AND contype IN ('f', 'p', 'u', 'c')
    ORDER BY contype = 'f' DESC
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
  END LOOP;
  FOR c IN
    SELECT indexrelid::regclass AS idx FROM pg_index WHERE indrelid::regclass::text LIKE 'old\_%'
  LOOP
    EXECUTE format('DROP INDEX %s', c.idx);
  END LOOP;
END
$$;

-- 2. The partitioned tables, column for column what versions 1–10 made, plus the stored time
-- of the result in every child table.

-- One hole punch round reported by a client (TrackHolePunchRequest).
CREATE TABLE hole_punch_results (
  id                    BIGINT NOT NULL DEFAULT nextval('hole_punch_results_id_seq'), -- internal ID
  client_id             BIGINT NOT NULL REFERENCES clients (id),  -- the reporting host
  remote_id             BIGINT NOT NULL REFERENCES peers (id),    -- the remote punched
  connect_started_at    TIMESTAMPTZ NOT NULL,                     -- relayed dial began
  connect_ended_at      TIMESTAMPTZ NOT NULL,                     -- relayed dial ended
  has_direct_conns      BOOLEAN NOT NULL,                         -- a non-relay connection was open at the end
  error                 TEXT,                                     -- the round's error, if any
  outcome               hole_punch_outcome NOT NULL,              -- overall outcome
  ended_at              TIMESTAMPTZ NOT NULL,                     -- round ended
  protocols             INTEGER[] NOT NULL DEFAULT '{}',          -- protocol filter applied (multicodec codes)
  attempt_count         SMALLINT NOT NULL,                        -- number of hole punch attempts
  final_transport       TEXT,                                     -- transport of the direct connection at the end, if any
  final_ip_version      SMALLINT,                                 -- IP version of that connection
  report_sha256         BYTEA NOT NULL,                           -- hash of the report (unique: hole_punch_report_digests)
  created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),       -- stored; the partition key
  success_attempt       SMALLINT,                                 -- first attempt whose outcome is SUCCESS or DIRECT_DIAL
  client_country        CHAR(2),                                  -- of the client's first listen address with geo data
  client_asn            BIGINT,                                   -- of that same address
  remote_country        CHAR(2),                                  -- of the first address with geo data the remote offered
  remote_asn            BIGINT,                                   -- of that same address
  client_implementation TEXT NOT NULL DEFAULT 'other',            -- punchr-ts, punchr-go, punchr-rust or other
  quirks                TEXT[] NOT NULL DEFAULT '{}',             -- known quirks of that client normalised in the report
  client_nat_mapping    TEXT,                                     -- the host's NAT mapping on the round's path
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- Every report digest stored, for ever: a retry is stored once, whenever it comes.
CREATE TABLE hole_punch_report_digests (
  report_sha256 BYTEA PRIMARY KEY,       -- hash of the report
  created_at    TIMESTAMPTZ NOT NULL     -- when its result was stored (which month holds it)
);

-- Addresses of a result: INITIAL = relay addrs dialled, FINAL = open connections at the end.
CREATE TABLE hole_punch_results_x_multi_addresses (
  hole_punch_result_id BIGINT NOT NULL,                             -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,                        -- its stored time
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id), -- the addr
  relationship         multi_address_relationship NOT NULL,         -- INITIAL or FINAL
  PRIMARY KEY (hole_punch_result_id, multi_address_id, relationship, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- The client host's own listen addresses during a result.
CREATE TABLE hole_punch_results_x_listen_multi_addresses (
  hole_punch_result_id BIGINT NOT NULL,                             -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,                        -- its stored time
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id), -- a listen addr
  PRIMARY KEY (hole_punch_result_id, multi_address_id, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- One DCUtR attempt of a result (HolePunchAttempt).
CREATE TABLE hole_punch_attempts (
  id                   BIGINT NOT NULL DEFAULT nextval('hole_punch_attempts_id_seq'), -- internal ID
  hole_punch_result_id BIGINT NOT NULL,                  -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,             -- its stored time
  attempt_number       SMALLINT NOT NULL,                -- 1-based order in the report
  opened_at            TIMESTAMPTZ NOT NULL,             -- dcutr stream opened
  started_at           TIMESTAMPTZ,                      -- SYNC received (punch began)
  ended_at             TIMESTAMPTZ NOT NULL,             -- attempt ended
  start_rtt            DOUBLE PRECISION,                 -- CONNECT/SYNC RTT, seconds
  elapsed_time         DOUBLE PRECISION NOT NULL,        -- seconds (see the column's comment)
  outcome              hole_punch_attempt_outcome NOT NULL, -- attempt outcome
  error                TEXT,                             -- attempt error
  direct_dial_error    TEXT,                             -- error of a direct dial, if any
  PRIMARY KEY (id, result_created_at),
  UNIQUE (hole_punch_result_id, attempt_number, result_created_at)
) PARTITION BY RANGE (result_created_at);
COMMENT ON COLUMN hole_punch_attempts.elapsed_time IS
  'seconds from started_at (opened_at when the attempt never started) to ended_at';

-- Remote addresses punched in an attempt.
CREATE TABLE hole_punch_attempts_x_multi_addresses (
  hole_punch_attempt_id BIGINT NOT NULL,                             -- the attempt
  result_created_at     TIMESTAMPTZ NOT NULL,                        -- its result's stored time
  multi_address_id      BIGINT NOT NULL REFERENCES multi_addresses (id), -- a punched addr
  PRIMARY KEY (hole_punch_attempt_id, multi_address_id, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- Pings made during a result. Aggregates come from successful pings only (no -1 sentinels).
CREATE TABLE latency_measurements (
  id                   BIGINT NOT NULL DEFAULT nextval('latency_measurements_id_seq'), -- internal ID
  hole_punch_result_id BIGINT NOT NULL,                              -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,                         -- its stored time
  remote_id            BIGINT NOT NULL REFERENCES peers (id),        -- the pinged peer
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id), -- the addr pinged over
  mtype                latency_measurement_type NOT NULL,            -- what was measured
  agent_version        TEXT NOT NULL,                                -- pinged peer's agent
  protocols            TEXT[] NOT NULL,                              -- pinged peer's protocols
  rtts                 DOUBLE PRECISION[] NOT NULL,                  -- raw RTTs, seconds (as sent)
  rtt_errs             TEXT[] NOT NULL,                              -- parallel to rtts, '' = ok
  rtt_avg              DOUBLE PRECISION,                             -- mean of successful RTTs
  rtt_min              DOUBLE PRECISION,                             -- min of successful RTTs
  rtt_max              DOUBLE PRECISION,                             -- max of successful RTTs
  rtt_std              DOUBLE PRECISION,                             -- population std dev of successful RTTs
  success_count        SMALLINT NOT NULL,                            -- number of successful pings
  PRIMARY KEY (id, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- NAT port mappings the client created (UPnP / NAT-PMP).
CREATE TABLE port_mappings (
  id                   BIGINT NOT NULL DEFAULT nextval('port_mappings_id_seq'), -- internal ID
  hole_punch_result_id BIGINT NOT NULL,        -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,   -- its stored time
  internal_port        INTEGER NOT NULL,       -- port inside the NAT
  external_port        INTEGER NOT NULL,       -- mapped port outside
  protocol             TEXT NOT NULL,          -- 'tcp' or 'udp'
  addr                 TEXT NOT NULL,          -- external address
  addr_network         TEXT NOT NULL,          -- network of addr (ip4/ip6)
  PRIMARY KEY (id, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- What the client knew about its network during a result.
CREATE TABLE network_information (
  id                      BIGINT NOT NULL DEFAULT nextval('network_information_id_seq'), -- internal ID
  hole_punch_result_id    BIGINT NOT NULL,        -- the result (one row at most)
  result_created_at       TIMESTAMPTZ NOT NULL,   -- its stored time
  router_login_html       TEXT,                   -- router login page
  router_login_html_error TEXT,                   -- why it could not be fetched
  supports_ipv6           BOOLEAN,                -- IPv6 connectivity
  supports_ipv6_error     TEXT,                   -- why that is unknown
  PRIMARY KEY (id, result_created_at),
  UNIQUE (hole_punch_result_id, result_created_at)
) PARTITION BY RANGE (result_created_at);

-- Every path the host reported, as its client classified it (version 8).
CREATE TABLE client_nat_behaviours (
  hole_punch_result_id BIGINT   NOT NULL,       -- the result
  result_created_at    TIMESTAMPTZ NOT NULL,    -- its stored time
  transport            TEXT     NOT NULL CHECK (transport IN ('tcp', 'quic')),
  ip_version           SMALLINT NOT NULL CHECK (ip_version IN (4, 6)),
  mapping              TEXT     NOT NULL CHECK (mapping IN ('endpoint-independent', 'address-dependent',
                         'address-and-port-dependent', 'endpoint-dependent', 'unknown')),
  port_preserved       BOOLEAN,            -- every observer saw the local port; NULL = unknown
  observations         SMALLINT NOT NULL,  -- observers (distinct address and port) used
  observer_ips         SMALLINT NOT NULL,  -- their distinct IP addresses
  PRIMARY KEY (hole_punch_result_id, transport, ip_version, result_created_at)
) PARTITION BY RANGE (result_created_at);

ALTER SEQUENCE hole_punch_results_id_seq OWNED BY hole_punch_results.id;
ALTER SEQUENCE hole_punch_attempts_id_seq OWNED BY hole_punch_attempts.id;
ALTER SEQUENCE latency_measurements_id_seq OWNED BY latency_measurements.id;
ALTER SEQUENCE port_mappings_id_seq OWNED BY port_mappings.id;
ALTER SEQUENCE network_information_id_seq OWNED BY network_information.id;

-- The indexes of versions 1–2, now on every partition.
CREATE INDEX hole_punch_results_remote_created_idx ON hole_punch_results (remote_id, created_at);
CREATE INDEX hole_punch_results_client_created_idx ON hole_punch_results (client_id, created_at);
CREATE INDEX hole_punch_results_created_idx ON hole_punch_results (created_at) INCLUDE (outcome, client_id, remote_id);
CREATE INDEX hole_punch_attempts_start_rtt_idx ON hole_punch_attempts (outcome, rtt_bin(start_rtt), result_created_at)
  INCLUDE (start_rtt) WHERE start_rtt IS NOT NULL;
CREATE INDEX latency_measurements_result_idx ON latency_measurements (hole_punch_result_id);
CREATE INDEX latency_measurements_rtt_avg_idx ON latency_measurements (mtype, rtt_bin(rtt_avg), result_created_at)
  INCLUDE (rtt_avg) WHERE rtt_avg IS NOT NULL;
CREATE INDEX port_mappings_result_idx ON port_mappings (hole_punch_result_id);

-- 3. Makes the partitions of every month from the one holding `from_time` to the one holding
-- `to_time` (UTC months), for each of the tables above, unless they exist. Returns how many it
-- made. Months that were archived are never asked for again: the server asks for the current
-- and the next month only.
CREATE FUNCTION create_result_partitions(from_time TIMESTAMPTZ, to_time TIMESTAMPTZ) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  month_start TIMESTAMP;
  parent TEXT;
  part TEXT;
  made INTEGER := 0;
BEGIN
  -- Server replicas make them at the same moments: one at a time, the others then find them.
  PERFORM pg_advisory_xact_lock(7370617274) ;
  FOR month_start IN
    SELECT generate_series(date_trunc('month', from_time AT TIME ZONE 'UTC'), date_trunc('month', to_time AT TIME ZONE 'UTC'),
      interval '1 month')
  LOOP
    FOREACH parent IN ARRAY ARRAY['hole_punch_results', 'hole_punch_results_x_multi_addresses',
      'hole_punch_results_x_listen_multi_addresses', 'hole_punch_attempts', 'hole_punch_attempts_x_multi_addresses',
      'latency_measurements', 'port_mappings', 'network_information', 'client_nat_behaviours']
    LOOP
      part := parent || to_char(month_start, '_YYYY_MM');
      IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent,
          month_start AT TIME ZONE 'UTC', (month_start + interval '1 month') AT TIME ZONE 'UTC');
        made := made + 1;
      END IF;
    END LOOP;
  END LOOP;
  RETURN made;
END
$$;

SELECT create_result_partitions(month, month)
FROM (SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
      FROM old_hole_punch_results) AS months_with_results;

SELECT create_result_partitions(now(), now() + interval '1 month');

-- 4. The rows, copied (the child tables take their result's stored time on the way).
INSERT INTO hole_punch_results (id, client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
  outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at,
  success_attempt, client_country, client_asn, remote_country, remote_asn, client_implementation, quirks,
  client_nat_mapping)
SELECT id, client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
  outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at,
  success_attempt, client_country, client_asn, remote_country, remote_asn, client_implementation, quirks,
  client_nat_mapping
FROM old_hole_punch_results;

INSERT INTO hole_punch_report_digests (report_sha256, created_at)
SELECT report_sha256, created_at FROM old_hole_punch_results;

INSERT INTO hole_punch_results_x_multi_addresses (hole_punch_result_id, result_created_at, multi_address_id, relationship)
SELECT x.hole_punch_result_id, r.created_at, x.multi_address_id, x.relationship
FROM old_hole_punch_results_x_multi_addresses x JOIN old_hole_punch_results r ON r.id = x.hole_punch_result_id;

INSERT INTO hole_punch_results_x_listen_multi_addresses (hole_punch_result_id, result_created_at, multi_address_id)
SELECT x.hole_punch_result_id, r.created_at, x.multi_address_id
FROM old_hole_punch_results_x_listen_multi_addresses x JOIN old_hole_punch_results r ON r.id = x.hole_punch_result_id;

INSERT INTO hole_punch_attempts (id, hole_punch_result_id, result_created_at, attempt_number, opened_at, started_at,
  ended_at, start_rtt, elapsed_time, outcome, error, direct_dial_error)
SELECT a.id, a.hole_punch_result_id, r.created_at, a.attempt_number, a.opened_at, a.started_at,
  a.ended_at, a.start_rtt, a.elapsed_time, a.outcome, a.error, a.direct_dial_error
FROM old_hole_punch_attempts a JOIN old_hole_punch_results r ON r.id = a.hole_punch_result_id;

INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, result_created_at, multi_address_id)
SELECT x.hole_punch_attempt_id, r.created_at, x.multi_address_id
FROM old_hole_punch_attempts_x_multi_addresses x
JOIN old_hole_punch_attempts a ON a.id = x.hole_punch_attempt_id
JOIN old_hole_punch_results r ON r.id = a.hole_punch_result_id;

INSERT INTO latency_measurements (id, hole_punch_result_id, result_created_at, remote_id, multi_address_id, mtype,
  agent_version, protocols, rtts, rtt_errs, rtt_avg, rtt_min, rtt_max, rtt_std, success_count)
SELECT l.id, l.hole_punch_result_id, r.created_at, l.remote_id, l.multi_address_id, l.mtype,
  l.agent_version, l.protocols, l.rtts, l.rtt_errs, l.rtt_avg, l.rtt_min, l.rtt_max, l.rtt_std, l.success_count
FROM old_latency_measurements l JOIN old_hole_punch_results r ON r.id = l.hole_punch_result_id;

INSERT INTO port_mappings (id, hole_punch_result_id, result_created_at, internal_port, external_port, protocol, addr,
  addr_network)
SELECT m.id, m.hole_punch_result_id, r.created_at, m.internal_port, m.external_port, m.protocol, m.addr, m.addr_network
FROM old_port_mappings m JOIN old_hole_punch_results r ON r.id = m.hole_punch_result_id;

INSERT INTO network_information (id, hole_punch_result_id, result_created_at, router_login_html,
  router_login_html_error, supports_ipv6, supports_ipv6_error)
SELECT n.id, n.hole_punch_result_id, r.created_at, n.router_login_html, n.router_login_html_error, n.supports_ipv6,
  n.supports_ipv6_error
FROM old_network_information n JOIN old_hole_punch_results r ON r.id = n.hole_punch_result_id;

INSERT INTO client_nat_behaviours (hole_punch_result_id, result_created_at, transport, ip_version, mapping,
  port_preserved, observations, observer_ips)
SELECT b.hole_punch_result_id, r.created_at, b.transport, b.ip_version, b.mapping, b.port_preserved, b.observations,
  b.observer_ips
FROM old_client_nat_behaviours b JOIN old_hole_punch_results r ON r.id = b.hole_punch_result_id;

-- 5. The old tables go.
DROP TABLE old_client_nat_behaviours, old_network_information, old_port_mappings, old_latency_measurements,
  old_hole_punch_attempts_x_multi_addresses, old_hole_punch_attempts, old_hole_punch_results_x_listen_multi_addresses,
  old_hole_punch_results_x_multi_addresses, old_hole_punch_results;
