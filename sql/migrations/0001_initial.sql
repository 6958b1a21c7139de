-- punchr storage contract, version 1. Plain SQL, forward only; runs unchanged on PGlite and
-- PostgreSQL. Timestamps are timestamptz (microsecond precision: the wire's nanoseconds are
-- truncated to microseconds). Durations and RTTs are double precision seconds.

-- Enums mirror the proto enums value for value (a unit test keeps proto, SQL and TS in sync).
CREATE TYPE hole_punch_outcome AS ENUM (
  'UNKNOWN', 'NO_CONNECTION', 'NO_STREAM', 'CONNECTION_REVERSED', 'CANCELLED', 'FAILED', 'SUCCESS'
);
CREATE TYPE hole_punch_attempt_outcome AS ENUM (
  'UNKNOWN', 'DIRECT_DIAL', 'PROTOCOL_ERROR', 'CANCELLED', 'TIMEOUT', 'FAILED', 'SUCCESS'
);
CREATE TYPE latency_measurement_type AS ENUM (
  'TO_RELAY', 'TO_REMOTE_THROUGH_RELAY', 'TO_REMOTE_AFTER_HOLE_PUNCH'
);
-- INITIAL: the addresses a result started from (the relay addrs dialled);
-- FINAL: the remote addresses of the connections open at its end.
CREATE TYPE multi_address_relationship AS ENUM ('INITIAL', 'FINAL');

-- Every libp2p peer punchr has heard of: remotes, client hosts, honeypots.
CREATE TABLE peers (
  id            BIGSERIAL PRIMARY KEY,               -- internal ID (RegisterResponse.db_peer_id)
  multi_hash    TEXT NOT NULL UNIQUE,                -- peer ID, base58btc string form
  agent_version TEXT,                                -- latest agent version seen
  protocols     TEXT[],                              -- latest protocol list seen, sorted
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),  -- first seen
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()   -- agent version or protocols last changed
);

-- Every multiaddr punchr has stored, classified once when first seen.
CREATE TABLE multi_addresses (
  id          BIGSERIAL PRIMARY KEY,               -- internal ID
  maddr       TEXT NOT NULL UNIQUE,                -- string form, e.g. /ip4/1.2.3.4/tcp/4001
  is_relay    BOOLEAN NOT NULL,                    -- contains /p2p-circuit
  is_public   BOOLEAN NOT NULL,                    -- its (first) IP is globally routable
  addr        INET,                                -- the (first) IP address, NULL for DNS addrs
  ip_version  SMALLINT,                            -- 4 or 6, NULL without an IP
  transport   TEXT,                                -- 'tcp', 'quic', 'quic-v1', 'webtransport', … of the outermost hop
  country     CHAR(2),                             -- ISO country of addr (offline MMDB), NULL if unknown
  asn         BIGINT,                              -- autonomous system number of addr (32-bit unsigned), NULL if unknown
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()   -- first stored
);

-- API keys. Only a SHA-256 hash of each key is stored.
CREATE TABLE authorizations (
  id          SERIAL PRIMARY KEY,                  -- internal ID
  api_key_sha256 BYTEA NOT NULL UNIQUE,            -- SHA-256 of the key
  key_prefix  TEXT NOT NULL,                       -- first characters of the key, to tell keys apart in listings
  username    TEXT NOT NULL,                       -- who the key was issued to
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),  -- issued
  revoked_at  TIMESTAMPTZ                          -- NULL while the key is valid
);

-- Client hosts (libp2p peers that dial remotes), each bound to the key it registered with.
CREATE TABLE clients (
  id               BIGSERIAL PRIMARY KEY,                                  -- internal ID
  peer_id          BIGINT NOT NULL UNIQUE REFERENCES peers (id),           -- the host's peer
  authorization_id INTEGER NOT NULL REFERENCES authorizations (id),        -- the key it registered with
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),                     -- first registration
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()                      -- last registration
);

-- One inbound connection a honeypot saw, after identify completed.
CREATE TABLE connection_events (
  id               BIGSERIAL PRIMARY KEY,                          -- internal ID
  remote_id        BIGINT NOT NULL REFERENCES peers (id),          -- the peer that connected
  listens_on_relay BOOLEAN NOT NULL,                               -- it advertised at least one relay addr
  supports_dcutr   BOOLEAN NOT NULL,                               -- it speaks /libp2p/dcutr
  multi_address_id BIGINT REFERENCES multi_addresses (id),         -- the connection's remote addr
  agent_version    TEXT,                                           -- agent version identify reported
  protocols        TEXT[],                                         -- protocols identify reported
  honeypot_id      BIGINT REFERENCES peers (id),                   -- which honeypot saw it
  opened_at        TIMESTAMPTZ NOT NULL,                           -- when the connection opened
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now()              -- when it was recorded
);
CREATE INDEX connection_events_remote_opened_idx ON connection_events (remote_id, opened_at);
CREATE INDEX connection_events_opened_idx ON connection_events (opened_at);

-- The addresses a peer advertised in identify on a connection event.
CREATE TABLE connection_events_x_multi_addresses (
  connection_event_id BIGINT NOT NULL REFERENCES connection_events (id) ON DELETE CASCADE, -- the event
  multi_address_id    BIGINT NOT NULL REFERENCES multi_addresses (id),                     -- an advertised addr
  PRIMARY KEY (connection_event_id, multi_address_id)
);

-- The allocation working set: remotes that may be handed out (SPEC §4). One row per remote,
-- refreshed on each qualifying connection event; rows unseen for 10 minutes are pruned by the
-- allocation query itself, so the table only ever holds current candidates.
CREATE TABLE remote_candidates (
  peer_id                  BIGINT PRIMARY KEY REFERENCES peers (id), -- the remote
  relay_multi_address_ids  BIGINT[] NOT NULL,                         -- its relay addrs from the latest event
  last_seen_at             TIMESTAMPTZ NOT NULL,                      -- latest qualifying connection event
  last_allocated_at        TIMESTAMPTZ                                -- last handed out, NULL = never (served first)
);
CREATE INDEX remote_candidates_allocation_idx ON remote_candidates (last_allocated_at NULLS FIRST, peer_id);
CREATE INDEX remote_candidates_last_seen_idx ON remote_candidates (last_seen_at);

-- Every (remote, relay addr) handed to a client host, for the "tried in the last 10 minutes"
-- exclusion of SPEC §4.
CREATE TABLE allocations (
  id               BIGSERIAL PRIMARY KEY,                          -- internal ID
  client_id        BIGINT NOT NULL REFERENCES clients (id),        -- the host that asked
  remote_id        BIGINT NOT NULL REFERENCES peers (id),          -- the remote handed out
  multi_address_id BIGINT NOT NULL REFERENCES multi_addresses (id),-- one relay addr handed out
  protocols        INTEGER[] NOT NULL,                             -- the protocol filter served (multicodec codes)
  allocated_at     TIMESTAMPTZ NOT NULL DEFAULT now()              -- when
);
CREATE INDEX allocations_remote_time_idx ON allocations (remote_id, allocated_at);

-- One hole punch round reported by a client (TrackHolePunchRequest).
CREATE TABLE hole_punch_results (
  id                      BIGSERIAL PRIMARY KEY,                    -- internal ID
  client_id               BIGINT NOT NULL REFERENCES clients (id),  -- the reporting host
  remote_id               BIGINT NOT NULL REFERENCES peers (id),    -- the remote punched
  connect_started_at      TIMESTAMPTZ NOT NULL,                     -- relayed dial began
  connect_ended_at        TIMESTAMPTZ NOT NULL,                     -- relayed dial ended
  has_direct_conns        BOOLEAN NOT NULL,                         -- a non-relay connection was open at the end
  error                   TEXT,                                     -- the round's error, if any
  outcome                 hole_punch_outcome NOT NULL,              -- overall outcome (SPEC §3)
  ended_at                TIMESTAMPTZ NOT NULL,                     -- round ended
  protocols               INTEGER[] NOT NULL DEFAULT '{}',          -- protocol filter applied (multicodec codes)
  attempt_count           SMALLINT NOT NULL,                        -- number of hole punch attempts
  final_transport         TEXT,                                     -- transport of the direct connection at the end, if any
  final_ip_version        SMALLINT,                                 -- IP version of that connection
  report_sha256           BYTEA NOT NULL UNIQUE,                    -- hash of the report, makes retries idempotent
  created_at              TIMESTAMPTZ NOT NULL DEFAULT now()        -- stored
);
CREATE INDEX hole_punch_results_remote_created_idx ON hole_punch_results (remote_id, created_at);
CREATE INDEX hole_punch_results_client_created_idx ON hole_punch_results (client_id, created_at);
CREATE INDEX hole_punch_results_created_idx ON hole_punch_results (created_at);

-- Addresses of a result: INITIAL = relay addrs dialled, FINAL = open connections at the end.
CREATE TABLE hole_punch_results_x_multi_addresses (
  hole_punch_result_id BIGINT NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE, -- the result
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id),                      -- the addr
  relationship         multi_address_relationship NOT NULL,                                   -- INITIAL or FINAL
  PRIMARY KEY (hole_punch_result_id, multi_address_id, relationship)
);

-- The client host's own listen addresses during a result.
CREATE TABLE hole_punch_results_x_listen_multi_addresses (
  hole_punch_result_id BIGINT NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE, -- the result
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id),                      -- a listen addr
  PRIMARY KEY (hole_punch_result_id, multi_address_id)
);

-- One DCUtR attempt of a result (HolePunchAttempt).
CREATE TABLE hole_punch_attempts (
  id                   BIGSERIAL PRIMARY KEY,                                                  -- internal ID
  hole_punch_result_id BIGINT NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE,  -- the result
  attempt_number       SMALLINT NOT NULL,                                                      -- 1-based order in the report
  opened_at            TIMESTAMPTZ NOT NULL,                                                   -- dcutr stream opened
  started_at           TIMESTAMPTZ,                                                            -- SYNC received (punch began)
  ended_at             TIMESTAMPTZ NOT NULL,                                                   -- attempt ended
  start_rtt            DOUBLE PRECISION,                                                       -- CONNECT/SYNC RTT, seconds
  elapsed_time         DOUBLE PRECISION NOT NULL,                                              -- seconds from opened to ended
  outcome              hole_punch_attempt_outcome NOT NULL,                                    -- attempt outcome
  error                TEXT,                                                                   -- attempt error
  direct_dial_error    TEXT,                                                                   -- error of a direct dial, if any
  UNIQUE (hole_punch_result_id, attempt_number)
);

-- Remote addresses punched in an attempt.
CREATE TABLE hole_punch_attempts_x_multi_addresses (
  hole_punch_attempt_id BIGINT NOT NULL REFERENCES hole_punch_attempts (id) ON DELETE CASCADE, -- the attempt
  multi_address_id      BIGINT NOT NULL REFERENCES multi_addresses (id),                       -- a punched addr
  PRIMARY KEY (hole_punch_attempt_id, multi_address_id)
);

-- Pings made during a result. Aggregates come from successful pings only (no -1 sentinels).
CREATE TABLE latency_measurements (
  id                   BIGSERIAL PRIMARY KEY,                                                 -- internal ID
  hole_punch_result_id BIGINT NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE, -- the result
  remote_id            BIGINT NOT NULL REFERENCES peers (id),                                -- the pinged peer
  multi_address_id     BIGINT NOT NULL REFERENCES multi_addresses (id),                      -- the addr pinged over
  mtype                latency_measurement_type NOT NULL,                                    -- what was measured
  agent_version        TEXT NOT NULL,                                                        -- pinged peer's agent
  protocols            TEXT[] NOT NULL,                                                      -- pinged peer's protocols
  rtts                 DOUBLE PRECISION[] NOT NULL,                                          -- raw RTTs, seconds (as sent)
  rtt_errs             TEXT[] NOT NULL,                                                      -- parallel to rtts, '' = ok
  rtt_avg              DOUBLE PRECISION,                                                     -- mean of successful RTTs
  rtt_min              DOUBLE PRECISION,                                                     -- min of successful RTTs
  rtt_max              DOUBLE PRECISION,                                                     -- max of successful RTTs
  rtt_std              DOUBLE PRECISION,                                                     -- population std dev of successful RTTs
  success_count        SMALLINT NOT NULL                                                     -- number of successful pings
);
CREATE INDEX latency_measurements_result_idx ON latency_measurements (hole_punch_result_id);

-- NAT port mappings the client created (UPnP / NAT-PMP).
CREATE TABLE port_mappings (
  id                   BIGSERIAL PRIMARY KEY,                                                 -- internal ID
  hole_punch_result_id BIGINT NOT NULL REFERENCES hole_punch_results (id) ON DELETE CASCADE, -- the result
  internal_port        INTEGER NOT NULL,                                                     -- port inside the NAT
  external_port        INTEGER NOT NULL,                                                     -- mapped port outside
  protocol             TEXT NOT NULL,                                                        -- 'tcp' or 'udp'
  addr                 TEXT NOT NULL,                                                        -- external address
  addr_network         TEXT NOT NULL                                                         -- network of addr (ip4/ip6)
);
CREATE INDEX port_mappings_result_idx ON port_mappings (hole_punch_result_id);

-- What the client knew about its network during a result.
CREATE TABLE network_information (
  id                      BIGSERIAL PRIMARY KEY,                                                      -- internal ID
  hole_punch_result_id    BIGINT NOT NULL UNIQUE REFERENCES hole_punch_results (id) ON DELETE CASCADE, -- the result
  router_login_html       TEXT,                                                                       -- router login page
  router_login_html_error TEXT,                                                                       -- why it could not be fetched
  supports_ipv6           BOOLEAN,                                                                    -- IPv6 connectivity
  supports_ipv6_error     TEXT                                                                        -- why that is unknown
);
