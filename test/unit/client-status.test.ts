// The client's status model (src/client/status.ts): the state and the one-line detail as the
// round loop, the report queue and the tracer report, the last round, today's and the last
// hour's counts with the success rate as docs/PROTOCOL.md defines it, its bounded memory, and
// the SIGUSR1 summary made from it. The clock is injected; "today" is the local day of it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { ClassifiedError } from '../../src/client/api-errors.js'
import type { LoopEvent } from '../../src/client/round-loop.js'
import { ClientStatus } from '../../src/client/status.js'
import { MAX_BUCKETS, MINUTE_MS, MinuteCounts, tally } from '../../src/client/status-counts.js'
import { lastHourSummary } from '../../src/client/status-summary.js'
import type { TraceEvent } from '../../src/client/tracer/index.js'
import { LatencyMeasurementSchema, TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { CLIENT_STATES } from '../../src/lib/client-state.js'
import { PROTOCOL_CODES } from '../../src/lib/multiaddr.js'

const HOST = peerIdFromString('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK')
const REMOTE = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
const OTHER = peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq')
const TCP_FILTER = [PROTOCOL_CODES.IP4, PROTOCOL_CODES.TCP]

/** A clock the test moves; starts on a local Monday afternoon. */
function clock(start = new Date(2026, 5, 15, 14, 30, 20).getTime()) {
  let t = start
  return {
    now: () => t,
    set: (at: number) => {
      t = at
    },
    advance: (ms: number) => {
      t += ms
    },
  }
}

function newStatus(now: () => number) {
  return new ClientStatus({
    version: '1.2.3',
    server: 'punchr.example.org:10000',
    dashboardUrl: 'http://punchr.example.org:10001',
    myResultsUrl: 'http://punchr.example.org:10001/#key=pk_abc',
    apiKeyFile: '/home/v/.config/punchr/api.key',
    now,
  })
}

function started(round: number, protocols: number[] = TCP_FILTER, remote: PeerId = REMOTE): LoopEvent {
  return { type: 'round-started', round, host: HOST, target: { remote, relayAddrs: [], protocols } }
}

function finished(
  round: number,
  outcome: string,
  options: { protocols?: number[]; openAddrs?: string[]; agent?: string; attempts?: number } = {},
): LoopEvent {
  const report = create(TrackHolePunchRequestSchema, {
    openMultiAddresses: (options.openAddrs ?? []).map((a) => multiaddr(a).bytes),
    latencyMeasurements:
      options.agent === undefined
        ? []
        : [
            // The relay's measurement comes first and must not be taken for the remote's agent.
            create(LatencyMeasurementSchema, {
              remoteId: OTHER.toMultihash().bytes,
              agentVersion: 'relay/1',
            }),
            create(LatencyMeasurementSchema, {
              remoteId: REMOTE.toMultihash().bytes,
              agentVersion: options.agent,
            }),
          ],
  })
  return {
    type: 'round-finished',
    round,
    host: HOST,
    target: { remote: REMOTE, relayAddrs: [], protocols: options.protocols ?? TCP_FILTER },
    queued: `r${round}`,
    result: {
      report,
      outcome: outcome as never,
      durationMs: 1234.4,
      end: 'direct-connection',
      refusedPunchTargets: {},
      attempts: Array.from({ length: options.attempts ?? 1 }, (_, i) => ({
        attempt: i + 1,
        openedAt: 1n,
        endedAt: 2n,
        elapsedTime: 0,
        outcome: 'FAILED' as never,
        multiAddresses: [],
      })),
    },
  }
}

function trace(type: string, attempt: number | undefined, peer: PeerId = REMOTE): TraceEvent {
  return { type, peer, timestamp: 1n, ...(attempt === undefined ? {} : { attempt }) } as unknown as TraceEvent
}

const unavailable: ClassifiedError = {
  kind: 'transient',
  code: 'Unavailable',
  message: 'connect ECONNREFUSED',
}

describe('client status: state and detail', () => {
  it('starts in starting, with the configured facts and nothing counted', () => {
    const c = clock()
    const status = newStatus(c.now)
    status.setHosts([HOST.toString()])
    status.onQueueEvent({ type: 'recovered', depth: { reports: 2, bytes: 900 }, removedTempFiles: 0 })
    const s = status.snapshot()
    assert.equal(s.state, 'starting')
    assert.match(s.detail, /^learning our addresses/)
    assert.equal(s.version, '1.2.3')
    assert.equal(s.server, 'punchr.example.org:10000')
    assert.equal(s.dashboardUrl, 'http://punchr.example.org:10001')
    assert.equal(s.myResultsUrl, 'http://punchr.example.org:10001/#key=pk_abc')
    assert.equal(s.apiKeyFile, '/home/v/.config/punchr/api.key')
    assert.deepEqual(s.hosts, [HOST.toString()])
    assert.equal(s.startedAt, new Date(c.now()).toISOString())
    assert.equal(s.lastRound, null)
    assert.deepEqual(s.today, { rounds: 0, successes: 0, failures: 0, successRate: null, byOutcome: {} })
    assert.equal(s.lastHour.rounds, 0)
    assert.equal(s.lastHour.successRate, null)
    assert.deepEqual(s.queue, { reports: 2, bytes: 900 })
    assert.equal(s.lastError, null)
    assert.ok(CLIENT_STATES.includes(s.state))
    // JSON as the tray app reads it: no undefined holes, the contract's keys all there.
    const json = JSON.parse(JSON.stringify(s))
    for (const key of [
      'version',
      'state',
      'detail',
      'startedAt',
      'server',
      'dashboardUrl',
      'myResultsUrl',
      'apiKeyFile',
      'hosts',
      'lastRound',
      'today',
      'lastHour',
      'queue',
    ])
      assert.ok(key in json, key)
  })

  it('follows a round: connecting, the attempts of its remote, the direct connection', () => {
    const status = newStatus(clock().now)
    status.onLoopEvent({ type: 'registered', host: HOST })
    assert.equal(status.snapshot().detail, '1 host(s) registered with the server')
    status.onLoopEvent(started(4))
    let s = status.snapshot()
    assert.equal(s.state, 'measuring')
    assert.equal(s.detail, 'round 4: connecting to 12D3…fsbE through its relay, then punching over TCP')
    status.onTraceEvent(HOST, trace('stream-opened', 1))
    assert.equal(status.snapshot().detail, 'round 4: punching 12D3…fsbE over TCP, attempt 1')
    status.onTraceEvent(HOST, trace('connect-received', 2))
    // Another remote's events and another host's are not this round's.
    status.onTraceEvent(HOST, trace('stream-opened', 3, OTHER))
    status.onTraceEvent(OTHER, trace('stream-opened', 3))
    assert.equal(status.snapshot().detail, 'round 4: punching 12D3…fsbE over TCP, attempt 2')
    status.onTraceEvent(HOST, trace('direct-connection', undefined))
    assert.equal(
      status.snapshot().detail,
      'round 4: connected directly to 12D3…fsbE on attempt 2; measuring latency',
    )
    status.onLoopEvent(finished(4, 'SUCCESS'))
    s = status.snapshot()
    assert.equal(s.state, 'measuring')
    assert.equal(s.detail, 'asking the server for a remote to punch (last round: SUCCESS)')
    status.onLoopEvent(started(5, []))
    assert.match(status.snapshot().detail, /then punching over any transport$/)
  })

  it('waits with a countdown when no remote is ready', () => {
    const c = clock()
    const status = newStatus(c.now)
    status.onLoopEvent({ type: 'no-remote', waitMs: 30_000 })
    assert.equal(status.snapshot().state, 'waiting')
    assert.equal(status.snapshot().detail, 'no remote ready on the server; next ask in 30 s')
    c.advance(12_300)
    assert.equal(status.snapshot().detail, 'no remote ready on the server; next ask in 18 s')
    c.advance(60_000)
    assert.match(status.snapshot().detail, /next ask in 0 s$/)
    // Resting hosts say so until one wakes for a round; a failed wake is the last error.
    status.onLoopEvent({ type: 'rested', hosts: 10 })
    status.onLoopEvent({ type: 'no-remote', waitMs: 30_000 })
    assert.equal(
      status.snapshot().detail,
      'no remote ready on the server (hosts resting: their connections are closed until the next round); next ask in 30 s',
    )
    const host = peerIdFromString('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK')
    status.onLoopEvent({ type: 'woke', host, ms: 900, error: 'identify told it no observed address in time' })
    assert.match(
      status.snapshot().lastError?.message ?? '',
      /^a resting host could not reconnect for its round: identify/,
    )
    status.onLoopEvent({ type: 'no-remote', waitMs: 30_000 })
    assert.match(status.snapshot().detail, /hosts resting/, 'a failed wake leaves the hosts resting')
    status.onLoopEvent({ type: 'woke', host, ms: 120 })
    status.onLoopEvent({ type: 'no-remote', waitMs: 30_000 })
    assert.equal(status.snapshot().detail, 'no remote ready on the server; next ask in 30 s')
  })

  it('says when the server is unreachable, with the queue, and forgets it once the server answers', () => {
    const c = clock()
    const status = newStatus(c.now)
    status.onQueueEvent({ type: 'queued', id: 'a', bytes: 10, depth: { reports: 3, bytes: 30 } })
    status.onLoopEvent({ type: 'api-error', call: 'GetAddrInfo', error: unavailable, waitMs: 4000 })
    const s = status.snapshot()
    assert.equal(s.state, 'waiting')
    assert.equal(
      s.detail,
      'server unreachable (Unavailable) (GetAddrInfo); retrying in 4 s; 3 report(s) queued',
    )
    assert.equal(s.lastError?.message, 'GetAddrInfo: server unreachable (Unavailable)')
    assert.equal(s.lastError?.at, new Date(c.now()).toISOString())
    status.onLoopEvent({
      type: 'api-error',
      call: 'Register',
      error: { kind: 'transient', code: 'ResourceExhausted', message: 'slow down' },
      waitMs: 1000,
    })
    assert.match(status.snapshot().detail, /the server answered ResourceExhausted: slow down \(Register\)/)
    status.onLoopEvent(started(1))
    assert.equal(status.snapshot().lastError, null)
    assert.equal(status.snapshot().state, 'measuring')
  })

  it('adds reports that do not go out to what it is doing, until one is sent', () => {
    const status = newStatus(clock().now)
    status.onLoopEvent(started(1))
    status.onQueueEvent({ type: 'queued', id: 'a', bytes: 10, depth: { reports: 1, bytes: 10 } })
    status.onQueueEvent({ type: 'retry', id: 'a', attempts: 1, delayMs: 100, error: unavailable })
    assert.match(
      status.snapshot().detail,
      /^round 1: connecting .*; reports not sent: server unreachable \(Unavailable\), 1 queued$/,
    )
    status.onQueueEvent({ type: 'sent', id: 'a', attempts: 2, depth: { reports: 0, bytes: 0 } })
    assert.doesNotMatch(status.snapshot().detail, /reports not sent/)
    assert.deepEqual(status.snapshot().queue, { reports: 0, bytes: 0 })
  })

  it('waits while the queue is full, and measures again when it has room', () => {
    const status = newStatus(clock().now)
    status.onLoopEvent({ type: 'paused', reason: '10000 reports' })
    assert.equal(status.snapshot().state, 'waiting')
    assert.match(status.snapshot().detail, /report queue is full \(10000 reports\)/)
    status.onLoopEvent({ type: 'resumed' })
    assert.equal(status.snapshot().state, 'measuring')
  })

  it('stopping is not undone by the cancelled round, and an error outlasts stopped', () => {
    const status = newStatus(clock().now)
    status.onLoopEvent(started(1))
    status.stopping()
    status.onLoopEvent(finished(1, 'CANCELLED'))
    let s = status.snapshot()
    assert.equal(s.state, 'stopping')
    assert.equal(s.lastRound?.outcome, 'CANCELLED', 'the cancelled round still counts')
    assert.equal(s.today.rounds, 1)
    status.stopped()
    assert.equal(status.snapshot().state, 'stopped')
    assert.equal(status.snapshot().detail, 'every report was sent')

    const refused = newStatus(clock().now)
    refused.failed('Register refused (Unauthenticated): api_key: unknown API key')
    refused.stopped()
    s = refused.snapshot()
    assert.equal(s.state, 'error')
    assert.equal(s.detail, 'Register refused (Unauthenticated): api_key: unknown API key')
    assert.match(s.lastError?.message ?? '', /unknown API key/)
  })
})

describe('client status: rounds and rates', () => {
  it('the last round: outcome, remote, its agent, transport, attempts, when', () => {
    const c = clock()
    const status = newStatus(c.now)
    status.onLoopEvent(finished(7, 'FAILED', { agent: 'go-libp2p/0.36', attempts: 3 }))
    assert.deepEqual(status.snapshot().lastRound, {
      finishedAt: new Date(c.now()).toISOString(),
      outcome: 'FAILED',
      remoteId: REMOTE.toString(),
      remoteAgent: 'go-libp2p/0.36',
      transport: 'tcp',
      attempts: 3,
      durationMs: 1234,
      host: HOST.toString(),
      round: 7,
    })
    // Without a filter the direct connection tells the transport; the relayed one does not.
    status.onLoopEvent(
      finished(8, 'SUCCESS', {
        protocols: [],
        openAddrs: [
          `/ip4/192.0.2.1/tcp/4001/p2p/${OTHER.toString()}/p2p-circuit`,
          '/ip4/198.51.100.7/udp/4001/quic-v1',
        ],
      }),
    )
    assert.equal(status.snapshot().lastRound?.transport, 'quic')
    assert.equal(status.snapshot().lastRound?.remoteAgent, null)
    status.onLoopEvent(finished(9, 'NO_CONNECTION', { protocols: [] }))
    assert.equal(status.snapshot().lastRound?.transport, null)
  })

  it('success rate = SUCCESS / (SUCCESS + FAILED); the other outcomes count as rounds only', () => {
    const status = newStatus(clock().now)
    for (const outcome of [
      'SUCCESS',
      'SUCCESS',
      'SUCCESS',
      'FAILED',
      'NO_CONNECTION',
      'CANCELLED',
      'NO_STREAM',
    ])
      status.onLoopEvent(finished(1, outcome))
    const s = status.snapshot()
    assert.deepEqual(s.today, {
      rounds: 7,
      successes: 3,
      failures: 1,
      successRate: 0.75,
      byOutcome: { SUCCESS: 3, FAILED: 1, NO_CONNECTION: 1, CANCELLED: 1, NO_STREAM: 1 },
    })
    assert.equal(s.lastHour.rounds, 7)
    assert.equal(s.lastHour.successRate, 0.75)
    assert.deepEqual(s.lastHour.byOutcome, s.today.byOutcome)
    assert.equal(s.total.rounds, 7)
    // Only outcomes that say nothing about hole punching: no rate, not 0 %.
    assert.equal(tally({ NO_CONNECTION: 4, CANCELLED: 1 }).successRate, null)
    assert.equal(tally({ FAILED: 2 }).successRate, 0)
  })

  it('today starts at local midnight; the last hour is the current minute and the 59 before', () => {
    const c = clock()
    const status = newStatus(c.now)
    const at = (h: number, m: number, s = 0, day = 15) => new Date(2026, 5, day, h, m, s).getTime()
    const round = (time: number, outcome: string) => {
      c.set(time)
      status.onLoopEvent(finished(1, outcome))
    }
    round(at(23, 50, 0, 14), 'SUCCESS') // yesterday
    round(at(0, 10), 'FAILED')
    round(at(13, 29, 59), 'SUCCESS') // just before the last hour's first minute
    round(at(13, 31, 0), 'FAILED') // its first minute
    round(at(14, 30, 5), 'SUCCESS') // the current minute
    c.set(at(14, 30, 40))
    const s = status.snapshot()
    assert.deepEqual(
      [s.today.rounds, s.today.successes, s.today.failures],
      [4, 2, 2],
      'yesterday’s round is not today’s',
    )
    assert.equal(s.today.successRate, 0.5)
    assert.deepEqual(s.lastHour.byOutcome, { FAILED: 1, SUCCESS: 1 })
    assert.equal(s.lastHour.since, new Date(at(13, 31)).toISOString())
    assert.equal(s.total.rounds, 5)
    // After midnight today's count starts again; the hour still reaches back.
    c.set(at(0, 0, 30, 16))
    const next = status.snapshot()
    assert.equal(next.today.rounds, 0)
    assert.equal(next.today.successRate, null)
  })

  it('keeps at most a day of minutes, however many rounds', () => {
    const counts = new MinuteCounts()
    const start = new Date(2026, 0, 1).getTime()
    // Three days, ten rounds a minute.
    for (let minute = 0; minute < 3 * 24 * 60; minute++)
      for (let i = 0; i < 10; i++) counts.add(i < 3 ? 'SUCCESS' : 'FAILED', start + minute * MINUTE_MS + i)
    assert.ok(counts.size <= MAX_BUCKETS, `${counts.size} buckets`)
    const now = start + (3 * 24 * 60 - 1) * MINUTE_MS + 30_000
    const today = counts.tallySince(MinuteCounts.startOfDay(now), now)
    assert.equal(today.rounds, 24 * 60 * 10)
    assert.equal(today.successRate, 0.3)
    assert.equal(counts.tallySince(MinuteCounts.startOfLastHour(now), now).rounds, 600)
  })
})

describe('client status: the SIGUSR1 summary', () => {
  it('says the last hour, today, what it does now, the last round and the queue', () => {
    const c = clock()
    const status = newStatus(c.now)
    for (const outcome of ['SUCCESS', 'FAILED', 'FAILED', 'NO_CONNECTION'])
      status.onLoopEvent(finished(2, outcome))
    status.onLoopEvent({ type: 'no-remote', waitMs: 5000 })
    status.onQueueEvent({ type: 'queued', id: 'a', bytes: 10, depth: { reports: 1, bytes: 512 } })
    const text = lastHourSummary(status.snapshot())
    const since = new Date(MinuteCounts.startOfLastHour(c.now())).toTimeString().slice(0, 5)
    assert.equal(
      text,
      [
        `punchr client, last hour (since ${since}): 4 round(s) — FAILED 2, NO_CONNECTION 1, SUCCESS 1`,
        '  success rate SUCCESS/(SUCCESS+FAILED): 33.3 % (1/3)',
        '  today: 4 round(s), success rate 33.3 % (1/3)',
        '  now: waiting — no remote ready on the server; next ask in 5 s',
        `  last round: NO_CONNECTION with ${REMOTE.toString()} over tcp, 1 attempt(s), at ${new Date(c.now()).toISOString()}`,
        '  queue: 1 report(s), 512 bytes, for punchr.example.org:10000',
        '',
      ].join('\n'),
    )
  })

  it('n/a without SUCCESS or FAILED', () => {
    const text = lastHourSummary(newStatus(clock().now).snapshot())
    assert.match(text, /last hour \(since \d\d:\d\d\): 0 round\(s\)\n/)
    assert.match(text, /success rate SUCCESS\/\(SUCCESS\+FAILED\): n\/a/)
  })
})
