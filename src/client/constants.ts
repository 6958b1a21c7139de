// Defaults of the measurement client. Durations are milliseconds; each has its source.

import { familiesTag, type IpFamily } from './ip-families.js'
import { ROUND_DEADLINE_MS } from './tracer/index.js'

const second = 1000
const minute = 60 * second

/**
 * How the client introduces itself (Register's agent_version and identify's agent version).
 * The server reads `transports=` and `ip=` to hand out only protocol filters this client can
 * execute (src/server/client-capabilities.ts).
 */
export function clientAgentVersion(
  version: string,
  transports: readonly string[],
  families: readonly IpFamily[] = ['ip4'],
): string {
  return `punchr/ts-client/${version} transports=${transports.join(',')} ip=${familiesTag(families)}`
}

/** Hosts in rotation (docs/PROTOCOL.md, "The round"; the Go client's `--host-count` default). */
export const DEFAULT_HOST_COUNT = 10

/** How long to wait after GetAddrInfo answered NOT_FOUND (docs/PROTOCOL.md, "The round"). */
export const NOT_FOUND_WAIT_MS = 30 * second

/**
 * How long the client has had nothing to measure (GetAddrInfo answered NOT_FOUND or failed, the
 * waits in between counted) before its hosts rest: they close their connections, whose keep-alives and
 * peers' pings were nearly all of an idle client's CPU (docs/FOOTPRINT.md, "Resting hosts"). A
 * host reconnects to the bootstrap peers, and learns its address again, before its next round.
 */
export const REST_AFTER_IDLE_MS = 30 * second

/** Pings per latency measurement (docs/PROTOCOL.md, "The round"). */
export const PINGS_PER_MEASUREMENT = 10

/** One ping's deadline; a ping past it is recorded as an error and the stream given up. */
export const PING_TIMEOUT_MS = 5 * second

/** All pings of one measurement together (the Go client's PingDuration). */
export const PING_MEASUREMENT_TIMEOUT_MS = 10 * second

/**
 * The relayed dial (docs/PROTOCOL.md, "The round"); a bound of our own on
 * top, so that a relay that accepts TCP and never answers cannot hold a round.
 */
export const RELAYED_CONNECT_TIMEOUT_MS = 60 * second

/**
 * How long libp2p may take for one address of a dial. Its default (6 s) is too short for a
 * relayed connection over a slow relay path: the relay's STOP exchange, Noise and the muxer
 * negotiation cross the remote's link six times or more, 7 s at 500 ms each way (measured in
 * the NAT lab, `slow-relay` remotes), and such a remote would count as NO_CONNECTION.
 */
export const ADDRESS_DIAL_TIMEOUT_MS = 20 * second

/** How long a host waits for identify to tell it its observed address before its first round. */
export const OBSERVED_ADDR_TIMEOUT_MS = 30 * second

/** Dialling one bootstrap peer. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 15 * second

/**
 * Pause between two hosts' bootstraps. A client's hosts share one public address, and js-libp2p
 * peers (relays, bootstrap peers) reset a sixth inbound connection from one address within a
 * second (`inboundConnectionThreshold`, 5): a host opens up to two connections per bootstrap
 * peer (one per transport), so two hosts a second stay within it.
 */
export const BOOTSTRAP_STAGGER_MS = 500

/**
 * How long the hosts wait for their port mappings before bootstrapping (client.ts mapPorts): a
 * gateway answers NAT-PMP in tens of milliseconds and UPnP in about a hundred; a missing one
 * costs one search window (2 s).
 */
export const PORT_MAPPING_WAIT_MS = 3 * second

/** Tries of a bootstrap dial the peer reset (its inbound rate limit, most likely), a pause apart. */
export const BOOTSTRAP_DIAL_TRIES = 3
export const BOOTSTRAP_RETRY_PAUSE_MS = 1 * second

/**
 * After `waitForEnd`, how long attempts still in flight get to write their end (an attempt's
 * `attempt-ended` follows its `direct-connection` by the dial's own return, milliseconds).
 */
export const ATTEMPT_SETTLE_TIMEOUT_MS = 2 * second

/**
 * The longest a round runs once its relayed connection is up: the wait for the punch (bounded
 * by its deadline, ROUND_DEADLINE_MS), the settling of attempts still running, and the pings,
 * which run side by side. The NAT lab holds every stored round to it.
 */
export const MAX_ROUND_AFTER_CONNECT_MS =
  ROUND_DEADLINE_MS + ATTEMPT_SETTLE_TIMEOUT_MS + PING_MEASUREMENT_TIMEOUT_MS

/** Retries of Register/GetAddrInfo on transient errors: first wait, growth, cap. */
export const API_RETRY_INITIAL_MS = 1 * second
export const API_RETRY_MAX_MS = 30 * second

/** Per-call deadlines of the API (the server answers in milliseconds; the Go client had none). */
export const API_TIMEOUTS_MS = {
  register: 15 * second,
  getAddrInfo: 15 * second,
  trackHolePunch: 30 * second,
} as const

/** Report queue bounds: ~10 k reports of a few KiB each, far more than a day offline. */
export const QUEUE_MAX_REPORTS = 10_000
export const QUEUE_MAX_BYTES = 100 * 1024 * 1024

/** Report queue resend backoff: first wait, growth factor, cap (jittered, see backoff.ts). */
export const QUEUE_RETRY_INITIAL_MS = 1 * second
export const QUEUE_RETRY_MAX_MS = 5 * minute

/**
 * Errors whose kind we cannot tell (INTERNAL, UNKNOWN without a network cause) are retried
 * this many times before the report is set aside: a server bug must not block the queue forever.
 */
export const QUEUE_MAX_UNKNOWN_ATTEMPTS = 10

/** On a clean stop, how long the queue may keep sending before the rest waits for the next start. */
export const SHUTDOWN_FLUSH_TIMEOUT_MS = 5 * second

/** Metrics and status HTTP server on loopback port 12001 (docs/PROTOCOL.md, "Processes, ports and files"). */
export const DEFAULT_METRICS_HOST = '127.0.0.1'
export const DEFAULT_METRICS_PORT = 12001
