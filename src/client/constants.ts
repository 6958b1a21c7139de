// Defaults of the measurement client. Durations are milliseconds; each has its source.

const second = 1000
const minute = 60 * second

/**
 * How the client introduces itself (Register's agent_version and identify's agent version).
 * The server reads `transports=` to hand out only protocol filters this client can execute
 * (src/server/protocol-filter.ts).
 */
export function clientAgentVersion(version: string, transports: readonly string[]): string {
  return `punchr/ts-client/${version} transports=${transports.join(',')}`
}

/** Hosts in rotation (SPEC §3, the Go client's `--host-count` default). */
export const DEFAULT_HOST_COUNT = 10

/** How long to wait after GetAddrInfo answered NOT_FOUND (SPEC §3: "No peer → wait 30 s"). */
export const NOT_FOUND_WAIT = 30 * second

/** Pings per latency measurement (SPEC §3: "up to 10 pings"). */
export const PINGS_PER_MEASUREMENT = 10

/** One ping's deadline; a ping past it is recorded as an error and the stream given up. */
export const PING_TIMEOUT = 5 * second

/** All pings of one measurement together (the Go client's PingDuration). */
export const PING_MEASUREMENT_TIMEOUT = 10 * second

/**
 * The relayed dial (SPEC §3: "the relayed connect as libp2p dials it"); a bound of our own on
 * top, so that a relay that accepts TCP and never answers cannot hold a round.
 */
export const RELAYED_CONNECT_TIMEOUT = 60 * second

/** How long a host waits for identify to tell it its observed address before its first round. */
export const OBSERVED_ADDR_TIMEOUT = 30 * second

/** Dialling one bootstrap peer. */
export const BOOTSTRAP_DIAL_TIMEOUT = 15 * second

/**
 * Pause between two hosts' bootstraps. A client's hosts share one public address, and js-libp2p
 * peers (relays, bootstrap peers) reset a sixth inbound connection from one address within a
 * second (`inboundConnectionThreshold`, 5): a host opens up to two connections per bootstrap
 * peer (one per transport), so two hosts a second stay within it.
 */
export const BOOTSTRAP_STAGGER = 500

/** Tries of a bootstrap dial the peer reset (its inbound rate limit, most likely), a pause apart. */
export const BOOTSTRAP_DIAL_TRIES = 3
export const BOOTSTRAP_RETRY_PAUSE = 1 * second

/**
 * After `waitForEnd`, how long attempts still in flight get to write their end (an attempt's
 * `attempt-ended` follows its `direct-connection` by the dial's own return, milliseconds).
 */
export const ATTEMPT_SETTLE_TIMEOUT = 2 * second

/** Retries of Register/GetAddrInfo on transient errors: first wait, growth, cap. */
export const API_RETRY_INITIAL = 1 * second
export const API_RETRY_MAX = 30 * second

/** Per-call deadlines of the API (the server answers in milliseconds; the Go client had none). */
export const API_TIMEOUTS = {
  register: 15 * second,
  getAddrInfo: 15 * second,
  trackHolePunch: 30 * second,
} as const

/** Report queue bounds: ~10 k reports of a few KiB each, far more than a day offline. */
export const QUEUE_MAX_REPORTS = 10_000
export const QUEUE_MAX_BYTES = 100 * 1024 * 1024

/** Report queue resend backoff: first wait, growth factor, cap (jittered, see backoff.ts). */
export const QUEUE_RETRY_INITIAL = 1 * second
export const QUEUE_RETRY_MAX = 5 * minute

/**
 * Errors whose kind we cannot tell (INTERNAL, UNKNOWN without a network cause) are retried
 * this many times before the report is set aside: a server bug must not block the queue forever.
 */
export const QUEUE_MAX_UNKNOWN_ATTEMPTS = 10

/** On a clean stop, how long the queue may keep sending before the rest waits for the next start. */
export const SHUTDOWN_FLUSH_TIMEOUT = 5 * second

/** Metrics and status HTTP server (SPEC §1: 12001 on loopback). */
export const DEFAULT_METRICS_HOST = '127.0.0.1'
export const DEFAULT_METRICS_PORT = 12001
