// The client's reports against the server's own validation (src/server/validate.ts): what
// buildReport makes from a round must be accepted as is, whatever the round's outcome.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { toBinary } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { buildReport, type RoundRecord, toAttempt } from '../../src/client/report.js'
import { relayHop, relayPeer } from '../../src/client/round.js'
import { type AttemptOutcome, outcome, type TraceEvent } from '../../src/client/tracer/index.js'
import { TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import { assertRequiredFields, toHolePunchReport } from '../../src/server/validate.js'

const remote = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
const host = peerIdFromString('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK')
const relay = peerIdFromString('12D3KooWHFrmLWTTDD4NodngtRMEVYgxrsDMp4F9iSwYntZ9WjHa')
const RELAYED = multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${remote}`)
const PUNCHED = multiaddr(`/ip4/11.0.0.20/tcp/4001/p2p/${remote}`)
const START = BigInt(Date.now() - 60_000) * 1_000_000n
const t = (ms: number) => START + BigInt(Math.round(ms * 1e6))
const NOW = t(60_000)

/** A successful first attempt, as the tracer records it. */
function successTrace(): TraceEvent[] {
  const base = (ms: number) => ({ attempt: 1, timestamp: t(ms), peer: remote })
  return [
    { type: 'stream-opened', ...base(120), streamId: 's', connectionId: 'c', relayed: true },
    { type: 'connect-received', ...base(121), addrs: [PUNCHED], invalidAddrs: 0, dialAddrs: [PUNCHED] },
    { type: 'connect-sent', ...base(122), addrs: [multiaddr('/ip4/11.0.0.30/tcp/4002')], source: 'identify' },
    { type: 'sync-received', ...base(130) },
    { type: 'dial-started', ...base(130), addr: PUNCHED, role: 'responder' },
    {
      type: 'direct-connection',
      ...base(140),
      direction: 'outbound',
      ownDial: true,
      remoteAddr: PUNCHED,
      connectionId: 'd',
    },
    { type: 'dial-succeeded', ...base(141), addr: PUNCHED, connectionId: 'd' },
    { type: 'attempt-ended', ...base(141), reason: 'direct-connection' },
  ]
}

function round(overrides: Partial<RoundRecord> = {}): RoundRecord {
  const { outcome: result, attempts } = outcome(successTrace(), {
    relayedConnectFailed: false,
    cancelled: false,
    directConnAtEnd: true,
    allServedAddrsRelay: true,
  })
  return {
    clientId: host.toMultihash().bytes,
    remoteId: remote.toMultihash().bytes,
    relayAddrs: [RELAYED],
    connectStartedAt: t(0),
    connectEndedAt: t(100),
    attempts,
    openAddrs: [PUNCHED],
    hasDirectConns: true,
    outcome: result,
    endedAt: t(500),
    listenAddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001'), multiaddr('/ip4/11.0.0.30/tcp/4002')],
    apiKey: 'key',
    protocols: [4, 6],
    latencies: [
      {
        kind: 'TO_RELAY',
        peerId: relay.toMultihash().bytes,
        agentVersion: 'go-libp2p/0.36.0',
        protocols: ['/ipfs/ping/1.0.0'],
        addr: multiaddr('/ip4/11.0.0.1/tcp/4001'),
        rtts: [0.02, 0, 0.021],
        errors: ['', 'ping timed out', ''],
      },
    ],
    ...overrides,
  }
}

/** What the server does with a TrackHolePunchRequest before storing it. */
function serverAccepts(record: RoundRecord) {
  const report = buildReport(record)
  // Encoding fails when a required field is missing, as a Go peer's decoding would.
  toBinary(TrackHolePunchRequestSchema, report)
  assertRequiredFields(TrackHolePunchRequestSchema, report)
  return toHolePunchReport(report, NOW)
}

describe('client reports', () => {
  it('a successful round passes the server’s validation with every part kept', () => {
    const stored = serverAccepts(round())
    assert.equal(stored.outcome, 'SUCCESS')
    assert.equal(stored.attempts.length, 1)
    assert.equal(stored.attempts[0]!.outcome, 'SUCCESS')
    assert.ok(stored.attempts[0]!.startedAt !== null)
    assert.deepEqual(stored.protocols, [4, 6])
    assert.deepEqual(stored.latencies[0]!.rttErrs, ['', 'ping timed out', ''])
    assert.equal(stored.latencies[0]!.mtype, 'TO_RELAY')
    assert.equal(stored.error, null)
  })

  it('carries what the client knows of its IPv6, which the server stores', () => {
    const without = serverAccepts(round())
    assert.equal(without.networkInformation, null)
    const v6 = serverAccepts(round({ network: { supportsIpv6: true } }))
    assert.equal(v6.networkInformation?.supportsIpv6, true)
    assert.equal(v6.networkInformation?.supportsIpv6Error, null)
    const none = serverAccepts(
      round({ network: { supportsIpv6: false, supportsIpv6Error: 'no IPv6 address on any interface' } }),
    )
    assert.equal(none.networkInformation?.supportsIpv6, false)
    assert.equal(none.networkInformation?.supportsIpv6Error, 'no IPv6 address on any interface')
  })

  it('rounds without attempts (no connection, no stream, cancelled) pass too', () => {
    for (const result of ['NO_CONNECTION', 'NO_STREAM', 'CANCELLED'] as const) {
      const stored = serverAccepts(
        round({
          attempts: [],
          outcome: result,
          error: `because ${result}`,
          openAddrs: [],
          hasDirectConns: false,
          latencies: [],
        }),
      )
      assert.equal(stored.outcome, result)
      assert.equal(stored.error, `because ${result}`)
      assert.equal(stored.attempts.length, 0)
    }
  })

  it('an attempt without a start (direct connection before SYNC) is reported without started_at', () => {
    const early: AttemptOutcome = {
      attempt: 1,
      openedAt: t(120),
      endedAt: t(140),
      startRtt: 0.02,
      elapsedTime: 0.02,
      outcome: 'SUCCESS',
      multiAddresses: [],
    }
    const message = toAttempt(early)
    assert.equal(message.startedAt, 0n)
    assert.ok(Math.abs(message.elapsedTime - 0.02) < 1e-6)
    const stored = serverAccepts(round({ attempts: [early] }))
    assert.equal(stored.attempts[0]!.startedAt, null)
  })

  it('a remote with NUL and 10 kB texts, 600 protocols and many pings still gives a report the server takes', () => {
    const huge = `evil\0agent ${'x'.repeat(10_000)}`
    const record = round({
      error: `remote said ${huge}`,
      latencies: Array.from({ length: LIMITS.maxLatencyMeasurements + 5 }, () => ({
        kind: 'TO_REMOTE_THROUGH_RELAY' as const,
        peerId: remote.toMultihash().bytes,
        agentVersion: huge,
        protocols: Array.from({ length: 600 }, (_, i) => `/evil/${i}/${'p'.repeat(10_000)}\0`),
        addr: RELAYED,
        rtts: Array.from({ length: 300 }, () => 0.01),
        errors: Array.from({ length: 300 }, () => ''),
      })),
    })
    const report = buildReport(record)
    assert.ok(toBinary(TrackHolePunchRequestSchema, report).length <= LIMITS.maxMessageBytes)
    const stored = serverAccepts(record)
    assert.equal(stored.latencies.length, LIMITS.maxLatencyMeasurements)
    const first = stored.latencies[0]!
    assert.equal(first.rtts.length, LIMITS.maxRttsPerMeasurement)
    assert.equal(first.rttErrs.length, LIMITS.maxRttsPerMeasurement)
    assert.ok(first.protocols.length > 0)
    assert.ok(first.protocols.join('').length <= LIMITS.maxRemoteProtocolChars)
    assert.ok(first.agentVersion.length <= LIMITS.maxRemoteTextChars)
    for (const text of [first.agentVersion, ...first.protocols, stored.error ?? ''])
      assert.ok(!text.includes('\0'), 'no NUL')
  })

  it('a round with more attempts than the server takes reports the first ones', () => {
    const [attempt] = round().attempts
    const report = buildReport(round({ attempts: Array.from({ length: 70 }, () => attempt!) }))
    assert.equal(report.holePunchAttempts.length, LIMITS.maxAttempts)
  })

  it('a failed ping never becomes a negative RTT', () => {
    const report = buildReport(
      round({
        latencies: [
          {
            kind: 'TO_REMOTE_THROUGH_RELAY',
            peerId: remote.toMultihash().bytes,
            agentVersion: '',
            protocols: [],
            addr: RELAYED,
            rtts: [-1, 0.01],
            errors: ['connection closed', ''],
          },
        ],
      }),
    )
    assert.deepEqual(report.latencyMeasurements[0]!.rtts, [0, 0.01])
    assert.deepEqual(report.latencyMeasurements[0]!.rttErrs, ['connection closed', ''])
  })

  it('finds the relay in a relay address', () => {
    assert.equal(relayPeer(RELAYED)?.toString(), relay.toString())
    assert.equal(relayHop(RELAYED).toString(), `/ip4/11.0.0.1/tcp/4001/p2p/${relay}`)
    assert.equal(relayPeer(PUNCHED), undefined)
  })
})
