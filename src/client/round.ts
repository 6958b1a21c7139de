// One measurement round (docs/PROTOCOL.md, "The round"): the host dials the remote through the relay, the remote
// (DCUtR initiator) punches and our tracer records it, we ping what there is to ping, and the
// round's facts become a TrackHolePunchRequest. The round loop (round-loop.ts) prunes the
// remote before and after, and queues the report.

import type { Connection, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { TrackHolePunchRequest } from '../gen/punchr_pb.js'
import type { Logger } from '../lib/logger.js'
import { isRelayAddr } from '../lib/multiaddr.js'
import { ATTEMPT_SETTLE_TIMEOUT_MS, RELAYED_CONNECT_TIMEOUT_MS } from './constants.js'
import type { MeasuringHost } from './host.js'
import { type PingOptions, type PingSeries, pingConnection } from './ping.js'
import { type FilterResult, isDialableWith } from './punch-addrs.js'
import { buildReport, type LatencyKind, type LatencyRecord, type NetworkFacts } from './report.js'
import {
  type AttemptOutcome,
  type Clock,
  type DcutrTracer,
  MAX_ATTEMPTS_PER_ROUND,
  nowNs,
  type OverallOutcomeKind,
  outcome,
  ROUND_DEADLINE_MS,
  STREAM_OPEN_TIMEOUT_MS,
  type WaitForEndResult,
} from './tracer/index.js'

/** What GetAddrInfo handed out. */
export interface RoundTarget {
  remote: PeerId
  /** The remote's relay addresses as served. */
  relayAddrs: Multiaddr[]
  /** The protocol filter (multicodec codes; empty = none). */
  protocols: number[]
}

export interface RoundOptions {
  apiKey: string
  /** Aborts the round: it ends at once and reports CANCELLED. */
  signal: AbortSignal
  /** @default the tracer's clock (wall-clock anchored hrtime, Unix ns) */
  clock?: Clock
  /** How long the remote has to open its dcutr stream. @default 30 s */
  streamOpenTimeout?: number
  /** The longest the wait for the punch may take. @default ROUND_DEADLINE_MS (150 s) */
  deadline?: number
  /** @default 60 s */
  connectTimeout?: number
  /** @default 2 s */
  settleTimeout?: number
  /** Ping counts and deadlines (tests shorten them). */
  ping?: Omit<PingOptions, 'signal'>
  /** What the report says about the client's network. */
  network?: NetworkFacts
  log?: Logger
}

export interface RoundResult {
  report: TrackHolePunchRequest
  outcome: OverallOutcomeKind
  attempts: AttemptOutcome[]
  /** From the start of the relayed dial to the end of the round. */
  durationMs: number
  /** Why waiting for the punch ended ('no-connection' when there was no relayed connection). */
  end: WaitForEndResult | 'no-connection'
  /** The remote's CONNECT addresses not dialled, by reason (punch-targets.ts). */
  refusedPunchTargets: FilterResult['refused']
}

export async function runRound(
  host: MeasuringHost,
  target: RoundTarget,
  options: RoundOptions,
): Promise<RoundResult> {
  const clock = options.clock ?? nowNs
  const { tracer, node } = host
  const remote = target.remote
  const streamOpenTimeout = options.streamOpenTimeout ?? STREAM_OPEN_TIMEOUT_MS

  tracer.clear(remote)
  // Before the dial, so that a connection the remote makes without any dcutr stream is seen too.
  tracer.watch(remote)
  host.punchAddrs.begin(remote, target.protocols, target.relayAddrs)

  const connect = await connectThroughRelay(host, target, options, clock)
  const punch =
    connect.relayed === undefined
      ? { end: 'no-connection' as const, latencies: [] }
      : await punchAndPing(host, remote, connect.relayed, options)

  // 4. The outcome (docs/OUTCOMES.md's rules, outcome.ts) from the trace and what we see now.
  const cancelled = options.signal.aborted
  const connections = node.getConnections(remote).filter((c) => c.status === 'open')
  const hasDirectConns = connections.some((c) => !isRelayAddr(c.remoteAddr))
  const result = outcome(tracer.trace(remote), {
    relayedConnectFailed: connect.relayed === undefined && !cancelled,
    cancelled,
    directConnAtEnd: hasDirectConns,
    allServedAddrsRelay: target.relayAddrs.every(isRelayAddr),
  })
  const filter = host.punchAddrs.end()
  const endedAt = clock()
  const error = joinErrors([
    roundError(result.outcome, result.attempts, connect.error, streamOpenTimeout),
    filter.note,
    ...misbehaviour(tracer, remote, punch.end, options.deadline ?? ROUND_DEADLINE_MS),
  ])
  const report = buildReport({
    clientId: host.peerId.toMultihash().bytes,
    remoteId: remote.toMultihash().bytes,
    relayAddrs: connect.dialled.length > 0 ? connect.dialled : target.relayAddrs,
    connectStartedAt: connect.startedAt,
    connectEndedAt: connect.endedAt,
    attempts: result.attempts,
    openAddrs: connections.map((c) => c.remoteAddr),
    hasDirectConns,
    outcome: result.outcome,
    ...(error === undefined ? {} : { error }),
    endedAt,
    listenAddrs: host.listenAddrs(),
    apiKey: options.apiKey,
    protocols: filter.protocols,
    latencies: punch.latencies,
    ...(options.network === undefined ? {} : { network: options.network }),
    natBehaviours: host.natBehaviours(),
    natMappings: host.portMappings(),
  })
  return {
    report,
    outcome: result.outcome,
    attempts: result.attempts,
    durationMs: Number(endedAt - connect.startedAt) / 1e6,
    end: punch.end,
    refusedPunchTargets: filter.refused,
  }
}

interface RelayedConnect {
  relayed?: Connection
  /** Why there is no relayed connection. */
  error?: string
  /** The served relay addresses our transports reach, the ones dialled. */
  dialled: Multiaddr[]
  startedAt: bigint
  endedAt: bigint
}

/** 1. The relayed connection. Only relays our transports reach are dialled. */
async function connectThroughRelay(
  host: MeasuringHost,
  target: RoundTarget,
  options: RoundOptions,
  clock: Clock,
): Promise<RelayedConnect> {
  const dialled = target.relayAddrs.filter(
    (addr) => isRelayAddr(addr) && isDialableWith(relayHop(addr), host.transports),
  )
  const startedAt = clock()
  if (dialled.length === 0) {
    const served = target.relayAddrs.map(String).join(', ')
    const error = `no relay address this client can dial (${[...host.transports].join(', ')}): ${served}`
    return { error, dialled, startedAt, endedAt: clock() }
  }
  try {
    const timeout = AbortSignal.timeout(options.connectTimeout ?? RELAYED_CONNECT_TIMEOUT_MS)
    const relayed = await host.node.dial(dialled, { signal: AbortSignal.any([options.signal, timeout]) })
    return { relayed, dialled, startedAt, endedAt: clock() }
  } catch (err) {
    return { error: errorText(err), dialled, startedAt, endedAt: clock() }
  }
}

/**
 * 2. The punch: the remote drives it; we wait for its end. Meanwhile we ping the remote through
 *    the relay, as the Go client did: the remote closes the relayed connection as soon as it has
 *    a direct one, so later there may be nothing left to ping through.
 * 3. The relay, and the remote directly if the punch made a direct connection, are pinged.
 */
async function punchAndPing(
  host: MeasuringHost,
  remote: PeerId,
  relayed: Connection,
  options: RoundOptions,
): Promise<{ end: WaitForEndResult; latencies: LatencyRecord[] }> {
  const { tracer, node } = host
  const pings = { ...options.ping, signal: options.signal }
  const throughRelay = pingConnection(relayed, pings)
  const end = await tracer.waitForEnd(remote, {
    signal: options.signal,
    streamOpenTimeout: options.streamOpenTimeout ?? STREAM_OPEN_TIMEOUT_MS,
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
  })
  await settle(tracer, remote, options.settleTimeout ?? ATTEMPT_SETTLE_TIMEOUT_MS)
  // Identify has run by now; the peer store keeps what it learnt until the prune.
  const remoteInfo = host.peerInfo(remote)
  const latencies = [
    latency(host, 'TO_REMOTE_THROUGH_RELAY', remote, relayed.remoteAddr, throughRelay, remoteInfo),
  ]
  const relay = relayPeer(relayed.remoteAddr)
  const relayConnection = relay === undefined ? undefined : openDirect(node.getConnections(relay))
  if (relay !== undefined && relayConnection !== undefined) {
    const series = pingConnection(relayConnection, pings)
    latencies.push(latency(host, 'TO_RELAY', relay, relayConnection.remoteAddr, series))
  }
  const direct = openDirect(node.getConnections(remote))
  if (direct !== undefined) {
    const series = pingConnection(direct, pings)
    latencies.push(latency(host, 'TO_REMOTE_AFTER_HOLE_PUNCH', remote, direct.remoteAddr, series, remoteInfo))
  }
  const measured = await Promise.all(latencies)
  return { end, latencies: measured.filter((l): l is LatencyRecord => l !== undefined) }
}

/** Waits (bounded) until every attempt of the trace has ended, so that none is cut short. */
async function settle(tracer: DcutrTracer, remote: PeerId, timeoutMs: number): Promise<void> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const open = () => {
    const started = new Set<number>()
    const ended = new Set<number>()
    for (const e of tracer.trace(remote)) {
      if (e.attempt === undefined) continue
      started.add(e.attempt)
      if (e.type === 'attempt-ended') ended.add(e.attempt)
    }
    return started.size > ended.size
  }
  while (open() && !deadline.aborted) {
    await new Promise<void>((resolve) => {
      const done = () => {
        tracer.removeEventListener('attempt-ended', done)
        deadline.removeEventListener('abort', done)
        resolve()
      }
      tracer.addEventListener('attempt-ended', done)
      deadline.addEventListener('abort', done, { once: true })
    })
  }
}

async function latency(
  host: MeasuringHost,
  kind: LatencyKind,
  peer: PeerId,
  addr: Multiaddr,
  series: Promise<PingSeries>,
  info = host.peerInfo(peer),
): Promise<LatencyRecord | undefined> {
  const [{ rtts, errors }, { agentVersion, protocols }] = await Promise.all([series, info])
  // No ping made (the round was cancelled first): nothing to report.
  if (rtts.length === 0) return undefined
  return { kind, peerId: peer.toMultihash().bytes, agentVersion, protocols, addr, rtts, errors }
}

/**
 * The direct connection that stays: the first one opened. When both sides' punch dials get
 * through (QUIC, or a remote that dials as well), the later one is ours, aborted because the
 * remote's arrived first, and it closes moments later; pinging it would store a failed ping
 * instead of a measurement (docs/INTEROP.md, "Ping the connection that stays").
 */
export function openDirect(connections: readonly Connection[]): Connection | undefined {
  return connections
    .filter((c) => c.status === 'open' && !isRelayAddr(c.remoteAddr))
    .sort((a, b) => a.timeline.open - b.timeline.open)[0]
}

/** The part of a relay address before /p2p-circuit: how to reach the relay. */
export function relayHop(addr: Multiaddr): Multiaddr {
  const components = addr.getComponents()
  const circuit = components.findIndex((c) => c.name === 'p2p-circuit')
  return circuit === -1 ? addr : multiaddr(components.slice(0, circuit))
}

/** The relay's peer ID in a relay address (the last /p2p before /p2p-circuit). */
export function relayPeer(addr: Multiaddr): PeerId | undefined {
  const components = addr.getComponents()
  const circuit = components.findIndex((c) => c.name === 'p2p-circuit')
  if (circuit === -1) return undefined
  const id = components.slice(0, circuit).findLast((c) => c.name === 'p2p')?.value
  if (id === undefined) return undefined
  try {
    return peerIdFromString(id)
  } catch {
    return undefined
  }
}

/**
 * What the remote did that bounded the round, for its `error`: the round's deadline passed, it
 * opened more dcutr streams than a round takes, or its trace overflowed.
 */
function misbehaviour(
  tracer: DcutrTracer,
  remote: PeerId,
  end: RoundResult['end'],
  deadline: number,
): (string | undefined)[] {
  const refused = tracer.refusedStreams(remote)
  const dropped = tracer.dropped(remote)
  return [
    end === 'deadline' ? `the round reached its deadline of ${deadline / 1000} s` : undefined,
    refused === 0
      ? undefined
      : `the remote opened ${refused} more /libp2p/dcutr stream(s) than the ${MAX_ATTEMPTS_PER_ROUND} attempts a round takes; reset unanswered`,
    dropped === 0 ? undefined : `the trace overflowed: ${dropped} of the remote's events were not kept`,
  ]
}

/** The round's `error`: why it ended as it did, for the outcomes that are not self-explanatory. */
function roundError(
  result: OverallOutcomeKind,
  attempts: readonly AttemptOutcome[],
  connectError: string | undefined,
  streamOpenTimeout: number,
): string | undefined {
  switch (result) {
    case 'NO_CONNECTION':
      return `relayed connection failed: ${connectError ?? 'unknown error'}`
    case 'CANCELLED':
      return 'stopped by the user'
    case 'NO_STREAM':
      return `the remote opened no /libp2p/dcutr stream within ${streamOpenTimeout / 1000} s`
    case 'FAILED': {
      const last = attempts.at(-1)
      const detail =
        last === undefined
          ? ''
          : ` (last: ${last.outcome}${last.error === undefined ? '' : `: ${last.error}`})`
      return `none of the ${attempts.length} attempt(s) succeeded${detail}`
    }
    default:
      return undefined
  }
}

function joinErrors(parts: (string | undefined)[]): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== '')
  return present.length === 0 ? undefined : present.join('; ')
}

function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorText).join('; ')
  if (err instanceof Error) return err.message === '' ? err.name : err.message
  return String(err)
}
