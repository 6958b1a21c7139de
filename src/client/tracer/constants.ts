// Defaults of the traced DCUtR responder. Every duration is in milliseconds.

const second = 1000

/** The DCUtR protocol id (libp2p/specs relay/DCUtR.md). */
export const PROTOCOL = '/libp2p/dcutr'

/**
 * Largest HolePunch message we accept, length prefix excluded: the spec says implementations
 * SHOULD refuse more than 4 KiB (relay/DCUtR.md, "RPC messages"; go-libp2p svc.go maxMsgSize,
 * js-libp2p dcutr MAX_DCUTR_MESSAGE_SIZE).
 */
export const MAX_MESSAGE_SIZE = 4 * 1024

/**
 * How long the remote has to open a `/libp2p/dcutr` stream after the relayed connection, and
 * to open the next one after a failed attempt (docs/PROTOCOL.md, "The round": "30 s for the remote to open a dcutr
 * stream").
 */
export const STREAM_OPEN_TIMEOUT_MS = 30 * second

/**
 * How long one attempt may take from its start (stream opened, or CONNECT received on a reused
 * stream) to a terminal event (docs/PROTOCOL.md, "The round").
 */
export const ATTEMPT_TIMEOUT_MS = 30 * second

/**
 * How long one hole-punch dial (TCP connect + upgrade) may take. The remote gives up on its own
 * dial after 5 s (go-libp2p holepunch util.go dialTimeout, js-libp2p dcutr `timeout`) and then
 * starts its next attempt, which dials the same 4-tuple again: our dial must be gone by then.
 */
export const DIAL_TIMEOUT_MS = 5 * second

/**
 * After an attempt's dials failed, a direct connection from the remote that arrives within this
 * window still counts for that attempt: the remote dials half an RTT after us and for up to 5 s.
 */
export const LATE_CONNECTION_WINDOW_MS = 5 * second

/**
 * How many attempts the remote makes before giving up: the spec's "SHOULD retry twice (thus a
 * total of 3 attempts)" (relay/DCUtR.md step 6), go-libp2p maxRetries, js-libp2p `retries`.
 */
export const REMOTE_MAX_ATTEMPTS = 3

/**
 * Simultaneous inbound dcutr streams per connection. js-libp2p's dcutr allows 1, but a remote
 * opens its next stream while our side may still be finishing the previous attempt; a rejected
 * stream would be a lost attempt.
 */
export const MAX_INBOUND_STREAMS = 4

/**
 * Attempts one remote may start in one round (one trace, see `clear`): far more than the 3 an
 * honest remote makes. Its further dcutr streams are reset unanswered, so a remote that opens
 * streams again and again cannot keep a round going.
 */
export const MAX_ATTEMPTS_PER_ROUND = 10

/**
 * The longest a round's wait for the punch may take, whatever the remote does: the remote's
 * silence before its first stream, its 3 attempts at their longest, and as much again for
 * slack. At the deadline running attempts end TIMEOUT.
 */
export const ROUND_DEADLINE_MS =
  STREAM_OPEN_TIMEOUT_MS + REMOTE_MAX_ATTEMPTS * ATTEMPT_TIMEOUT_MS + 30 * second

/** Remotes whose traces are kept (the oldest goes first); bounds memory on a busy host. */
export const MAX_TRACES = 256

/** Events kept per remote; a remote that opens streams without end cannot grow a trace forever. */
export const MAX_EVENTS_PER_TRACE = 1024

/** Observed addresses remembered from identify (the most recent first). */
export const MAX_OBSERVED_ADDRS = 8
