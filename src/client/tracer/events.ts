// The trace of one remote is a list of these events, in the order they happened. Every event
// carries its Unix-nanosecond timestamp and the remote peer; events of one attempt carry the
// attempt's number (1, 2, … per remote). Attempt and overall outcomes are pure functions of
// the list (outcome.ts); docs/OUTCOMES.md shows which sequence gives which outcome.
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Which role our side takes in the security and muxer handshakes of a hole-punch dial. */
export type DialRole = 'responder' | 'initiator'

/** Where the addresses we sent in CONNECT came from. */
export type OwnAddrSource = 'init' | 'identify' | 'address-manager'

/** Why an attempt ended (the outcome also depends on what else happened, see outcome.ts). */
export type AttemptEndReason =
  /** A direct connection to the remote appeared. */
  | 'direct-connection'
  /** Every dial of the attempt failed. */
  | 'dials-failed'
  /** A bad message, a message out of turn, or the stream ended mid-round. */
  | 'protocol-error'
  /** No terminal event within the attempt time limit. */
  | 'timeout'
  /** The remote started a newer attempt while this one was still dialling. */
  | 'superseded'
  /** `cancel()` or `stop()`. */
  | 'cancelled'

interface Base {
  /** Unix time in nanoseconds. */
  timestamp: bigint
  /** The remote peer. */
  peer: PeerId
}

interface AttemptBase extends Base {
  /** The attempt's number for this remote, from 1. */
  attempt: number
}

/** The remote opened a `/libp2p/dcutr` stream: a new attempt begins. */
export interface StreamOpenedEvent extends AttemptBase {
  type: 'stream-opened'
  streamId: string
  connectionId: string
  /** False when the stream came over a direct connection (an error: nothing to upgrade). */
  relayed: boolean
}

/**
 * The remote's CONNECT arrived. On a reused stream (several rounds on one stream) this is the
 * first event of the attempt.
 */
export interface ConnectReceivedEvent extends AttemptBase {
  type: 'connect-received'
  /** Every address that decoded, as sent. */
  addrs: Multiaddr[]
  /** How many entries did not decode as multiaddrs. */
  invalidAddrs: number
  /** The addresses we will dial on SYNC (`dialAddrs` of the init, by default: not relayed, dialable). */
  dialAddrs: Multiaddr[]
}

/** We answered with our CONNECT. */
export interface ConnectSentEvent extends AttemptBase {
  type: 'connect-sent'
  addrs: Multiaddr[]
  source: OwnAddrSource
}

/** The remote's SYNC arrived: the punch starts now (`started_at`). */
export interface SyncReceivedEvent extends AttemptBase {
  type: 'sync-received'
}

/**
 * `directDial()`: we dial the remote's addresses ourselves, without a hole punch. A new attempt
 * begins; if it connects, its outcome is DIRECT_DIAL.
 */
export interface DirectDialStartedEvent extends AttemptBase {
  type: 'direct-dial-started'
  addrs: Multiaddr[]
}

/** One address is being dialled. */
export interface DialStartedEvent extends AttemptBase {
  type: 'dial-started'
  addr: Multiaddr
  role: DialRole
}

/** A dial produced an upgraded connection. */
export interface DialSucceededEvent extends AttemptBase {
  type: 'dial-succeeded'
  addr: Multiaddr
  connectionId: string
}

/** A dial failed (refused, timed out, upgrade failed, aborted because another one won, …). */
export interface DialFailedEvent extends AttemptBase {
  type: 'dial-failed'
  addr: Multiaddr
  error: string
  errorName: string
}

/**
 * A direct (not relayed) connection to the remote opened: our own dial (`ownDial`) or one the
 * remote made to us. `attempt` is the attempt it counts for: the running one, or the last one
 * if it ended less than the late-connection window ago; none for a connection outside of any
 * attempt (e.g. a reversed connection).
 */
export interface DirectConnectionEvent extends Base {
  type: 'direct-connection'
  attempt?: number
  /** 'outbound' for our hole-punch dials, else the direction libp2p gives the connection. */
  direction: 'inbound' | 'outbound'
  ownDial: boolean
  remoteAddr: Multiaddr
  connectionId: string
}

/**
 * One of our hole-punch dials came up after we had given it up: its attempt had ended or was
 * being stopped (timeout, superseded, cancelled) when libp2p opened the connection, which its
 * upgrader does before the dial returns. It is no success of any attempt, and the tracer
 * closes it (docs/OUTCOMES.md).
 */
export interface AbandonedConnectionEvent extends AttemptBase {
  type: 'abandoned-connection'
  remoteAddr: Multiaddr
  connectionId: string
}

/** The DCUtR exchange broke: bad message, message out of turn, stream ended mid-round. */
export interface ProtocolErrorEvent extends AttemptBase {
  type: 'protocol-error'
  error: string
  errorName: string
}

/** The attempt is over; see `reason`. */
export interface AttemptEndedEvent extends AttemptBase {
  type: 'attempt-ended'
  reason: AttemptEndReason
  error?: string
}

export type TraceEvent =
  | StreamOpenedEvent
  | ConnectReceivedEvent
  | ConnectSentEvent
  | SyncReceivedEvent
  | DirectDialStartedEvent
  | DialStartedEvent
  | DialSucceededEvent
  | DialFailedEvent
  | DirectConnectionEvent
  | AbandonedConnectionEvent
  | ProtocolErrorEvent
  | AttemptEndedEvent

export type TraceEventType = TraceEvent['type']

/** The event of one type. */
export type TraceEventOf<T extends TraceEventType> = Extract<TraceEvent, { type: T }>

/** What the tracer dispatches: one event per type, plus `trace` for every event. */
export type DcutrTracerEvents = { [T in TraceEventType]: CustomEvent<TraceEventOf<T>> } & {
  trace: CustomEvent<TraceEvent>
}
