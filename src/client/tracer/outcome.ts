// Pure functions from a trace (events.ts) to the outcomes the wire reports (docs/OUTCOMES.md).
// No clock, no I/O: the round loop calls them with `tracer.trace(peer)` and facts it knows
// itself, and unit tests call them with literal event lists. docs/OUTCOMES.md has the table.
import type { Multiaddr } from '@multiformats/multiaddr'
import { nsToSeconds } from './clock.js'
import type { AttemptEndedEvent, TraceEvent, TraceEventOf, TraceEventType } from './events.js'

/** HolePunchAttemptOutcome without the UNKNOWN of the wire. */
export type AttemptOutcomeKind =
  | 'SUCCESS'
  | 'FAILED'
  | 'TIMEOUT'
  | 'PROTOCOL_ERROR'
  | 'DIRECT_DIAL'
  | 'CANCELLED'

/** One HolePunchAttempt of the report (docs/OUTCOMES.md, "Attempt outcomes"), from the trace. */
export interface AttemptOutcome {
  /** The attempt's number in the trace. */
  attempt: number
  /** Unix ns: the dcutr stream opened (or, on a reused stream, the round's CONNECT arrived). */
  openedAt: bigint
  /** Unix ns: SYNC arrived, i.e. the punch began (for a direct dial: the dial began). */
  startedAt?: bigint
  /** Unix ns: the first direct connection, or the end of the attempt. */
  endedAt: bigint
  /**
   * Seconds from the remote's CONNECT arriving to its SYNC arriving. The remote measures the
   * RTT that times the punch (its CONNECT sent → our CONNECT received) and never tells us; our
   * interval spans the same round trip plus the remote's turnaround, so it is a close proxy.
   */
  startRtt?: number
  /** Seconds from `startedAt` (or `openedAt` when the punch never started) to `endedAt`. */
  elapsedTime: number
  outcome: AttemptOutcomeKind
  error?: string
  /** The error of a failed `directDial()` just before this attempt. */
  directDialError?: string
  /** The remote addresses dialled (punched), in dial order. */
  multiAddresses: Multiaddr[]
}

/** HolePunchOutcome without the UNKNOWN of the wire. */
export type OverallOutcomeKind =
  | 'NO_CONNECTION'
  | 'NO_STREAM'
  | 'CONNECTION_REVERSED'
  | 'CANCELLED'
  | 'FAILED'
  | 'SUCCESS'

/** What decides the outcome of a round; only the round loop knows all of it. */
export interface OverallFacts {
  /** The connection through the relay could not be made. */
  relayedConnectFailed: boolean
  /** The user stopped the round. */
  cancelled: boolean
  attempts: readonly Pick<AttemptOutcome, 'outcome'>[]
  /** A direct (not relayed) connection to the remote was open at the end of the round. */
  directConnAtEnd: boolean
  /** Every address the server handed out for the remote was a relay address. */
  allServedAddrsRelay: boolean
}

/** The rules for the outcome of a round, in their order (docs/OUTCOMES.md). */
export function overallOutcome(facts: OverallFacts): OverallOutcomeKind {
  // 1. No relayed connection, nothing else could happen.
  if (facts.relayedConnectFailed) return 'NO_CONNECTION'
  // 2. The user stopped the round: whatever was seen so far is incomplete.
  if (facts.cancelled) return 'CANCELLED'
  // 3. Any attempt got a direct connection.
  if (facts.attempts.some((a) => a.outcome === 'SUCCESS' || a.outcome === 'DIRECT_DIAL')) return 'SUCCESS'
  // 4. Attempts were made and none succeeded; the remote's silence afterwards does not turn
  //    this into NO_STREAM (the Go client's mistake, docs/PROTOCOL.md, "Departures from the original punchr").
  if (facts.attempts.length > 0) return 'FAILED'
  // 5. No dcutr stream, yet a direct connection: the remote dialled us (or we it) on a direct
  //    address, which it could only know if it was not handed to us as a relay address.
  if (facts.directConnAtEnd && facts.allServedAddrsRelay) return 'CONNECTION_REVERSED'
  // 6. The remote never opened a dcutr stream.
  return 'NO_STREAM'
}

/** Attempt and overall outcome of a trace in one call. */
export function outcome(
  events: readonly TraceEvent[],
  facts: Omit<OverallFacts, 'attempts'>,
): { outcome: OverallOutcomeKind; attempts: AttemptOutcome[] } {
  const attempts = attemptOutcomes(events)
  return { outcome: overallOutcome({ ...facts, attempts }), attempts }
}

/**
 * The attempts of a trace, by attempt number. A successful `directDial()` is an attempt with
 * outcome DIRECT_DIAL; a failed one is not an attempt of its own, its error goes to the next
 * hole-punch attempt as `directDialError` (the wire has the field for it).
 */
export function attemptOutcomes(events: readonly TraceEvent[]): AttemptOutcome[] {
  const groups = new Map<number, TraceEvent[]>()
  for (const event of events) {
    if (event.attempt === undefined) continue
    const group = groups.get(event.attempt)
    if (group === undefined) groups.set(event.attempt, [event])
    else group.push(event)
  }
  const attempts: AttemptOutcome[] = []
  let pendingDirectDialError: string | undefined
  for (const attempt of [...groups.keys()].sort((a, b) => a - b)) {
    const result = attemptOutcome(attempt, groups.get(attempt)!)
    if (result.directDial && result.outcome.outcome !== 'DIRECT_DIAL') {
      pendingDirectDialError = result.outcome.error ?? result.outcome.outcome
      continue
    }
    if (pendingDirectDialError !== undefined && !result.directDial) {
      result.outcome.directDialError = pendingDirectDialError
      pendingDirectDialError = undefined
    }
    attempts.push(result.outcome)
  }
  return attempts
}

function attemptOutcome(
  attempt: number,
  events: TraceEvent[],
): { directDial: boolean; outcome: AttemptOutcome } {
  const first = <T extends TraceEventType>(type: T) =>
    events.find((e): e is TraceEventOf<T> => e.type === type)
  const directDialStarted = first('direct-dial-started')
  const connectReceived = first('connect-received')
  const syncReceived = first('sync-received')
  const ended: AttemptEndedEvent | undefined = first('attempt-ended')
  const protocolError = first('protocol-error')
  // Our dial's success and the connection it opened are two events; the earlier one counts.
  const connected = events.find((e) => e.type === 'dial-succeeded' || e.type === 'direct-connection')

  const openedAt = events[0]!.timestamp
  // A direct connection that arrives before SYNC (the remote dialled us while the exchange was
  // still running) ends the attempt before any punch began: such an attempt has no start.
  const punchStart = directDialStarted?.timestamp ?? syncReceived?.timestamp
  const startedAt =
    connected !== undefined && punchStart !== undefined && punchStart > connected.timestamp
      ? undefined
      : punchStart
  const startRtt =
    connectReceived !== undefined && syncReceived !== undefined
      ? nsToSeconds(syncReceived.timestamp - connectReceived.timestamp)
      : undefined
  const multiAddresses = uniqueAddrs(events.flatMap((e) => (e.type === 'dial-started' ? [e.addr] : [])))

  let kind: AttemptOutcomeKind
  let endedAt = ended?.timestamp ?? events[events.length - 1]!.timestamp
  let error: string | undefined
  if (connected !== undefined) {
    // A direct connection wins over anything that went wrong around it (e.g. the remote
    // resetting the stream once it had the connection).
    kind = directDialStarted !== undefined ? 'DIRECT_DIAL' : 'SUCCESS'
    endedAt = connected.timestamp
  } else if (ended?.reason === 'cancelled') {
    kind = 'CANCELLED'
    error = ended.error
  } else if (protocolError !== undefined) {
    kind = 'PROTOCOL_ERROR'
    error = protocolError.error
  } else if (ended === undefined || ended.reason === 'timeout') {
    // No terminal event at all (the trace was read mid-attempt) is a timeout too.
    kind = 'TIMEOUT'
    error = ended?.error ?? 'the attempt did not end'
  } else {
    kind = 'FAILED'
    error = dialErrors(events) ?? ended.error
  }

  const outcome: AttemptOutcome = {
    attempt,
    openedAt,
    endedAt,
    elapsedTime: nsToSeconds(endedAt - (startedAt ?? openedAt)),
    outcome: kind,
    multiAddresses,
  }
  if (startedAt !== undefined) outcome.startedAt = startedAt
  if (startRtt !== undefined) outcome.startRtt = startRtt
  if (error !== undefined) outcome.error = error
  return { directDial: directDialStarted !== undefined, outcome }
}

/** "addr: error" per failed dial, or undefined when no dial failed. */
function dialErrors(events: readonly TraceEvent[]): string | undefined {
  const failures = events.flatMap((e) =>
    e.type === 'dial-failed' ? [`${e.addr.toString()}: ${e.error}`] : [],
  )
  return failures.length === 0 ? undefined : failures.join('; ')
}

function uniqueAddrs(addrs: readonly Multiaddr[]): Multiaddr[] {
  const seen = new Set<string>()
  return addrs.filter((addr) => {
    const key = addr.toString()
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
