import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clearField, create } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import {
  GetAddrInfoRequestSchema,
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  NATMappingSchema,
  NetworkInformationSchema,
  RegisterRequestSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'
import { EARLIEST_TIMESTAMP_NS, LIMITS, MAX_CLOCK_AHEAD_NS } from '../../src/lib/report-limits.js'
import { assertRequiredFields, timestampField, toHolePunchReport } from '../../src/server/validate.js'
import { ValidationError } from '../../src/server/validation-error.js'
import { fullReport, maBytes, newPeer, relayAddr } from '../support/fixtures.js'

const NS = 1_000_000_000n
const MS = 1_000_000n
/** 2023-11-14T22:13:20.123456789Z: sub-millisecond digits to see what the mapping keeps. */
const T0 = 1_700_000_000_123_456_789n
/** The server clock: an hour after the round started. */
const NOW = T0 + 3600n * NS

const client = await newPeer()
const remote = await newPeer()
const relay = await newPeer()

const AT = HolePunchAttemptSchema.field
const LM = LatencyMeasurementSchema.field
const NM = NATMappingSchema.field
const TR = TrackHolePunchRequestSchema.field

type Mutate = (r: TrackHolePunchRequest) => void

/**
 * fullReport's round, relative to T0 (seconds): connect 0 → 0.1; attempt 0 opened 0.2,
 * started 0.25, ended 5 (FAILED); attempt 1 opened 6, started 6.1, ended 7 (SUCCESS); end 8.
 */
function report(mutate?: Mutate, startNs = T0): TrackHolePunchRequest {
  const r = fullReport({ client, remote, relay, apiKey: 'test-key', startNs })
  mutate?.(r)
  return r
}

const attempt = (r: TrackHolePunchRequest, i: number) => r.holePunchAttempts[i]!
const latency = (r: TrackHolePunchRequest, i: number) => r.latencyMeasurements[i]!
const natMapping = (r: TrackHolePunchRequest, i: number) => r.natMappings[i]!
const BAD_MULTIADDR = Uint8Array.from([4, 1, 2]) // truncated ip4 value
const BAD_PEER_ID = Uint8Array.from([1, 2, 3])

/** Asserts a ValidationError for `field` that Connect answers as INVALID_ARGUMENT. */
function assertInvalid(fn: () => unknown, field: string, reason?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`)
    assert.equal(err.field, field)
    assert.equal(err.code, Code.InvalidArgument)
    // Connect recognises its errors by name; a renamed subclass would become INTERNAL.
    assert.equal(ConnectError.from(err).code, Code.InvalidArgument)
    assert.ok(err.message.includes(field), `message names the field: ${err.message}`)
    if (reason !== undefined) assert.match(err.reason, reason)
    return true
  })
}

/** `count` valid, ordered attempts inside fullReport's round (0.2 s … 0.2 s + count × 10 ms). */
function attempts(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const openedAt = T0 + NS / 5n + BigInt(i) * 10n * MS
    return create(HolePunchAttemptSchema, {
      openedAt,
      endedAt: openedAt + 5n * MS,
      elapsedTime: 0.005,
      outcome: HolePunchAttemptOutcome.FAILED,
    })
  })
}

const addrs = (count: number) =>
  Array.from({ length: count }, (_, i) => maBytes(`/ip4/11.0.${i >> 8}.${i & 255}/tcp/4001`))

describe('toHolePunchReport: valid reports', () => {
  const cases: [string, Mutate | undefined, ((out: ReturnType<typeof toHolePunchReport>) => void)?][] = [
    ['the full Go-client report', undefined],
    [
      'an attempt without started_at and start_rtt (no SYNC received)',
      (r) => {
        clearField(attempt(r, 0), AT.startedAt)
        clearField(attempt(r, 0), AT.startRtt)
      },
      (out) => {
        assert.equal(out.attempts[0]!.startedAt, null)
        assert.equal(out.attempts[0]!.startRtt, null)
      },
    ],
    [
      'no attempts at all (NO_STREAM)',
      (r) => {
        r.holePunchAttempts = []
        r.outcome = HolePunchOutcome.NO_STREAM
      },
      (out) => {
        assert.deepEqual(out.attempts, [])
        assert.equal(out.outcome, 'NO_STREAM')
      },
    ],
    [
      'a legacy latency measurement: empty rtt_errs and a -1 RTT sentinel',
      (r) => {
        latency(r, 0).rtts = [0.02, -1, 0.03]
        latency(r, 0).rttErrs = []
      },
      (out) => {
        assert.deepEqual(out.latencies[0]!.rtts, [0.02, -1, 0.03])
        assert.equal(out.latencies[0]!.rttErrs.length, 3)
        assert.equal(out.latencies[0]!.rttErrs[0], '')
        assert.match(out.latencies[0]!.rttErrs[1]!, /^ping failed/)
        assert.equal(out.latencies[0]!.rttErrs[2], '')
      },
    ],
    [
      'a legacy latency measurement without any failed ping',
      (r) => {
        latency(r, 1).rttErrs = []
      },
      (out) => assert.deepEqual(out.latencies[1]!.rttErrs, ['', '']),
    ],
    [
      'a failed ping with an error and a -1 RTT',
      (r) => {
        latency(r, 0).rtts = [0.02, -1]
        latency(r, 0).rttErrs = ['', 'timeout']
      },
      (out) => assert.deepEqual(out.latencies[0]!.rttErrs, ['', 'timeout']),
    ],
    [
      'QUIC draft-29 (460) in the protocol filter of an old client',
      (r) => {
        r.protocols = [41, 460]
      },
      (out) => assert.deepEqual(out.protocols, [41, 460]),
    ],
    [
      'quic-v1 (461) in the protocol filter',
      (r) => {
        r.protocols = [4, 461]
      },
    ],
    [
      'an empty protocol filter',
      (r) => {
        r.protocols = []
      },
      (out) => assert.deepEqual(out.protocols, []),
    ],
    [
      'no network information',
      (r) => clearField(r, TR.networkInformation),
      (out) => assert.equal(out.networkInformation, null),
    ],
    [
      'empty network information',
      (r) => {
        r.networkInformation = create(NetworkInformationSchema)
      },
      (out) =>
        assert.deepEqual(out.networkInformation, {
          routerLoginHtml: null,
          routerLoginHtmlError: null,
          supportsIpv6: null,
          supportsIpv6Error: null,
        }),
    ],
    [
      'no latency measurements, NAT mappings or addresses',
      (r) => {
        r.latencyMeasurements = []
        r.natMappings = []
        r.remoteMultiAddresses = []
        r.openMultiAddresses = []
        r.listenMultiAddresses = []
      },
    ],
    [
      'ports 0 and 65535 in a NAT mapping',
      (r) => {
        natMapping(r, 0).internalPort = 0
        natMapping(r, 0).externalPort = 65535
      },
    ],
    [
      'equal timestamps everywhere they may be equal',
      (r) => {
        r.connectEndedAt = r.connectStartedAt
        const a = attempt(r, 0)
        a.openedAt = r.connectStartedAt
        a.startedAt = a.openedAt
        a.endedAt = a.openedAt
        a.elapsedTime = 0
        const b = attempt(r, 1)
        b.openedAt = a.openedAt
        b.startedAt = b.openedAt
        b.endedAt = r.endedAt
        b.elapsedTime = 8
      },
    ],
    [
      'elapsed_time up to one second beyond the attempt span (clock granularity)',
      (r) => {
        attempt(r, 1).elapsedTime = 1.9
      },
    ],
    [
      'start_rtt at the limit',
      (r) => {
        attempt(r, 0).startRtt = LIMITS.maxRttSeconds
      },
    ],
    [
      `${LIMITS.maxAttempts} attempts`,
      (r) => {
        r.holePunchAttempts = attempts(LIMITS.maxAttempts)
      },
      (out) => assert.equal(out.attempts.length, LIMITS.maxAttempts),
    ],
    [
      `${LIMITS.maxAddressesPerList} remote addresses`,
      (r) => {
        r.remoteMultiAddresses = addrs(LIMITS.maxAddressesPerList)
      },
    ],
    [
      'an explicitly set empty error string is kept (not null)',
      (r) => {
        r.error = ''
      },
      (out) => assert.equal(out.error, ''),
    ],
  ]
  for (const [name, mutate, check] of cases) {
    it(name, () => {
      const req = report(mutate)
      assertRequiredFields(TrackHolePunchRequestSchema, req)
      const out = toHolePunchReport(req, NOW)
      check?.(out)
    })
  }

  it('a report ending exactly one day ahead of the server clock', () => {
    const start = NOW + MAX_CLOCK_AHEAD_NS - 8n * NS
    toHolePunchReport(report(undefined, start), NOW)
  })

  it('a report starting exactly at the earliest plausible timestamp (2015-01-01)', () => {
    toHolePunchReport(report(undefined, EARLIEST_TIMESTAMP_NS), NOW)
  })
})

describe('toHolePunchReport: invalid reports', () => {
  const toMs = (ns: bigint) => ns / MS
  const toUs = (ns: bigint) => ns / 1000n
  const toS = (ns: bigint) => ns / NS
  const everyTimestamp = (r: TrackHolePunchRequest, f: (ns: bigint) => bigint) => {
    r.connectStartedAt = f(r.connectStartedAt)
    r.connectEndedAt = f(r.connectEndedAt)
    r.endedAt = f(r.endedAt)
    for (const a of r.holePunchAttempts) {
      a.openedAt = f(a.openedAt)
      a.startedAt = f(a.startedAt)
      a.endedAt = f(a.endedAt)
    }
  }
  const tooFar = NOW + MAX_CLOCK_AHEAD_NS + 1n

  const cases: [string, Mutate, string, RegExp?][] = [
    // Ordering of the round.
    [
      'connect_ended_at before connect_started_at',
      (r) => {
        r.connectEndedAt = r.connectStartedAt - 1n
      },
      'connect_ended_at',
      /out of order/,
    ],
    [
      'ended_at before connect_ended_at',
      (r) => {
        r.endedAt = r.connectEndedAt - 1n
      },
      'ended_at',
      /out of order/,
    ],
    // Ordering within an attempt.
    [
      'started_at before opened_at',
      (r) => {
        attempt(r, 0).startedAt = attempt(r, 0).openedAt - 1n
      },
      'hole_punch_attempts[0].started_at',
      /out of order/,
    ],
    [
      'ended_at before started_at',
      (r) => {
        attempt(r, 1).endedAt = attempt(r, 1).startedAt - 1n
      },
      'hole_punch_attempts[1].ended_at',
      /out of order/,
    ],
    [
      'ended_at before opened_at without started_at',
      (r) => {
        clearField(attempt(r, 1), AT.startedAt)
        attempt(r, 1).endedAt = attempt(r, 1).openedAt - 1n
        attempt(r, 1).elapsedTime = 0
      },
      'hole_punch_attempts[1].ended_at',
      /out of order/,
    ],
    // Attempts ordered and within the round.
    [
      'attempts not ordered by opened_at',
      (r) => {
        attempt(r, 1).openedAt = attempt(r, 0).openedAt - 1n
      },
      'hole_punch_attempts[1].opened_at',
      /hole_punch_attempts\[0\]\.opened_at/,
    ],
    [
      'an attempt opened before the relayed connect started',
      (r) => {
        attempt(r, 0).openedAt = r.connectStartedAt - 1n
      },
      'hole_punch_attempts[0].opened_at',
      /connect_started_at/,
    ],
    [
      // The code blames the round's ended_at (the message names the attempt).
      'an attempt that ended after the round',
      (r) => {
        attempt(r, 1).endedAt = r.endedAt + 1n
      },
      'ended_at',
      /hole_punch_attempts\[1\]\.ended_at/,
    ],
    // Implausible timestamps: wrong units, or far in the future.
    ['timestamps in seconds', (r) => everyTimestamp(r, toS), 'connect_started_at', /Unix nanoseconds/],
    ['timestamps in milliseconds', (r) => everyTimestamp(r, toMs), 'connect_started_at', /Unix nanoseconds/],
    ['timestamps in microseconds', (r) => everyTimestamp(r, toUs), 'connect_started_at', /Unix nanoseconds/],
    [
      'connect_ended_at in milliseconds',
      (r) => {
        r.connectEndedAt = toMs(r.connectEndedAt)
      },
      'connect_ended_at',
      /before 2015/,
    ],
    [
      'an attempt opened_at in milliseconds',
      (r) => {
        attempt(r, 1).openedAt = toMs(attempt(r, 1).openedAt)
      },
      'hole_punch_attempts[1].opened_at',
      /before 2015/,
    ],
    [
      'an attempt started_at in microseconds',
      (r) => {
        attempt(r, 0).startedAt = toUs(attempt(r, 0).startedAt)
      },
      'hole_punch_attempts[0].started_at',
      /before 2015/,
    ],
    [
      'an attempt ended_at in seconds',
      (r) => {
        attempt(r, 0).endedAt = toS(attempt(r, 0).endedAt)
      },
      'hole_punch_attempts[0].ended_at',
      /before 2015/,
    ],
    [
      'one ns before 2015',
      (r) => {
        r.connectStartedAt = EARLIEST_TIMESTAMP_NS - 1n
      },
      'connect_started_at',
    ],
    [
      'ended_at more than a day in the future',
      (r) => {
        r.endedAt = tooFar
      },
      'ended_at',
      /future/,
    ],
    [
      'an attempt ended_at more than a day in the future',
      (r) => {
        attempt(r, 0).endedAt = tooFar
      },
      'hole_punch_attempts[0].ended_at',
      /future/,
    ],
    [
      'uint64 max',
      (r) => {
        r.connectEndedAt = 2n ** 64n - 1n
      },
      'connect_ended_at',
      /future/,
    ],
    // elapsed_time.
    [
      'elapsed_time in microseconds (the Rust client bug)',
      (r) => {
        attempt(r, 0).elapsedTime = 4_750_000
      },
      'hole_punch_attempts[0].elapsed_time',
      /durations are seconds/,
    ],
    [
      'elapsed_time in microseconds of a short attempt (below the absolute limit)',
      (r) => {
        const a = attempt(r, 1)
        clearField(a, AT.startedAt)
        a.endedAt = a.openedAt + 50n * MS
        a.elapsedTime = 50_000
      },
      'hole_punch_attempts[1].elapsed_time',
      /exceeds the attempt's span/,
    ],
    [
      'elapsed_time in milliseconds',
      (r) => {
        attempt(r, 1).elapsedTime = 900
      },
      'hole_punch_attempts[1].elapsed_time',
      /span/,
    ],
    [
      'negative elapsed_time',
      (r) => {
        attempt(r, 0).elapsedTime = -1
      },
      'hole_punch_attempts[0].elapsed_time',
    ],
    [
      'NaN elapsed_time',
      (r) => {
        attempt(r, 0).elapsedTime = Number.NaN
      },
      'hole_punch_attempts[0].elapsed_time',
    ],
    [
      'Infinity elapsed_time',
      (r) => {
        attempt(r, 0).elapsedTime = Number.POSITIVE_INFINITY
      },
      'hole_punch_attempts[0].elapsed_time',
    ],
    // start_rtt.
    [
      'negative start_rtt',
      (r) => {
        attempt(r, 0).startRtt = -0.01
      },
      'hole_punch_attempts[0].start_rtt',
    ],
    [
      'NaN start_rtt',
      (r) => {
        attempt(r, 1).startRtt = Number.NaN
      },
      'hole_punch_attempts[1].start_rtt',
    ],
    [
      'Infinity start_rtt',
      (r) => {
        attempt(r, 1).startRtt = Number.POSITIVE_INFINITY
      },
      'hole_punch_attempts[1].start_rtt',
    ],
    [
      'start_rtt too large',
      (r) => {
        attempt(r, 0).startRtt = LIMITS.maxRttSeconds + 1
      },
      'hole_punch_attempts[0].start_rtt',
      /implausibly large/,
    ],
    // Latency RTTs.
    [
      'a NaN RTT of a successful ping',
      (r) => {
        latency(r, 0).rtts = [0.02, Number.NaN, 0.5]
      },
      'latency_measurements[0].rtts[1]',
    ],
    [
      'an Infinity RTT of a successful ping',
      (r) => {
        latency(r, 1).rtts = [Number.POSITIVE_INFINITY, 0.01]
      },
      'latency_measurements[1].rtts[0]',
    ],
    [
      'a NaN RTT of a failed ping',
      (r) => {
        latency(r, 0).rtts = [0.02, 0.021, Number.NaN]
      },
      'latency_measurements[0].rtts[2]',
      /finite/,
    ],
    [
      'a NaN RTT in a legacy measurement',
      (r) => {
        latency(r, 0).rtts = [0.02, Number.NaN]
        latency(r, 0).rttErrs = []
      },
      'latency_measurements[0].rtts[1]',
    ],
    [
      'a -Infinity RTT in a legacy measurement',
      (r) => {
        latency(r, 0).rtts = [Number.NEGATIVE_INFINITY]
        latency(r, 0).rttErrs = []
      },
      'latency_measurements[0].rtts[0]',
      /finite/,
    ],
    [
      'an RTT above the limit',
      (r) => {
        latency(r, 1).rtts = [0.01, LIMITS.maxRttSeconds + 1]
      },
      'latency_measurements[1].rtts[1]',
      /implausibly large/,
    ],
    [
      'rtt_errs not parallel to rtts',
      (r) => {
        latency(r, 0).rttErrs = ['', '']
      },
      'latency_measurements[0].rtt_errs',
      /parallel/,
    ],
    // NAT mappings.
    [
      'a negative internal port',
      (r) => {
        natMapping(r, 0).internalPort = -1
      },
      'nat_mappings[0].internal_port',
      /outside/,
    ],
    [
      'an external port above 65535',
      (r) => {
        natMapping(r, 0).externalPort = 65536
      },
      'nat_mappings[0].external_port',
      /outside/,
    ],
    [
      'a bad port in the second mapping',
      (r) => {
        r.natMappings.push(
          create(NATMappingSchema, {
            internalPort: 70000,
            externalPort: 4001,
            protocol: 'udp',
            addr: '11.0.0.30',
            addrNetwork: 'ip4',
          }),
        )
      },
      'nat_mappings[1].internal_port',
    ],
    // Too many entries.
    [
      'too many attempts',
      (r) => {
        r.holePunchAttempts = attempts(LIMITS.maxAttempts + 1)
      },
      'hole_punch_attempts',
      /too many/,
    ],
    [
      'too many remote addresses',
      (r) => {
        r.remoteMultiAddresses = addrs(LIMITS.maxAddressesPerList + 1)
      },
      'remote_multi_addresses',
      /too many/,
    ],
    [
      'too many open addresses',
      (r) => {
        r.openMultiAddresses = addrs(LIMITS.maxAddressesPerList + 1)
      },
      'open_multi_addresses',
    ],
    [
      'too many listen addresses',
      (r) => {
        r.listenMultiAddresses = addrs(LIMITS.maxAddressesPerList + 1)
      },
      'listen_multi_addresses',
    ],
    [
      'too many addresses in an attempt',
      (r) => {
        attempt(r, 1).multiAddresses = addrs(LIMITS.maxAddressesPerList + 1)
      },
      'hole_punch_attempts[1].multi_addresses',
    ],
    [
      'too many latency measurements',
      (r) => {
        r.latencyMeasurements = Array.from({ length: LIMITS.maxLatencyMeasurements + 1 }, () => latency(r, 0))
      },
      'latency_measurements',
      /too many/,
    ],
    [
      'too many RTTs in a measurement',
      (r) => {
        latency(r, 0).rtts = new Array<number>(LIMITS.maxRttsPerMeasurement + 1).fill(0.01)
        latency(r, 0).rttErrs = []
      },
      'latency_measurements[0].rtts',
    ],
    [
      'too many protocols in a measurement',
      (r) => {
        latency(r, 1).protocols = new Array<string>(LIMITS.maxProtocols + 1).fill('/ipfs/id/1.0.0')
      },
      'latency_measurements[1].protocols',
    ],
    [
      'too many NAT mappings',
      (r) => {
        r.natMappings = Array.from({ length: LIMITS.maxNatMappings + 1 }, () => natMapping(r, 0))
      },
      'nat_mappings',
    ],
    [
      'too many protocol filter codes',
      (r) => {
        r.protocols = new Array<number>(9).fill(4)
      },
      'protocols',
    ],
    // Protocol filter codes.
    [
      'an unknown protocol code',
      (r) => {
        r.protocols = [4, 6, 17]
      },
      'protocols[2]',
      /unknown protocol code 17/,
    ],
    [
      'udp (273) is not a filter code',
      (r) => {
        r.protocols = [273]
      },
      'protocols[0]',
    ],
    [
      'a negative protocol code',
      (r) => {
        r.protocols = [-4]
      },
      'protocols[0]',
    ],
    // Enum values.
    [
      'an unknown outcome',
      (r) => {
        r.outcome = 7 as HolePunchOutcome
      },
      'outcome',
      /unknown enum value 7/,
    ],
    [
      'a negative outcome',
      (r) => {
        r.outcome = -1 as HolePunchOutcome
      },
      'outcome',
    ],
    [
      'an unknown attempt outcome',
      (r) => {
        attempt(r, 1).outcome = 42 as HolePunchAttemptOutcome
      },
      'hole_punch_attempts[1].outcome',
    ],
    [
      'an unknown latency type',
      (r) => {
        latency(r, 1).mtype = 3 as LatencyMeasurementType
      },
      'latency_measurements[1].mtype',
    ],
    // Identities and addresses.
    [
      'a remote_id that is no peer ID',
      (r) => {
        r.remoteId = BAD_PEER_ID
      },
      'remote_id',
    ],
    [
      'a latency remote_id that is no peer ID',
      (r) => {
        latency(r, 0).remoteId = BAD_PEER_ID
      },
      'latency_measurements[0].remote_id',
    ],
    [
      'a malformed remote multiaddr',
      (r) => {
        r.remoteMultiAddresses = [BAD_MULTIADDR]
      },
      'remote_multi_addresses[0]',
    ],
    [
      'a malformed open multiaddr',
      (r) => {
        r.openMultiAddresses.push(BAD_MULTIADDR)
      },
      'open_multi_addresses[2]',
    ],
    [
      'an empty listen multiaddr',
      (r) => {
        r.listenMultiAddresses[1] = new Uint8Array()
      },
      'listen_multi_addresses[1]',
      /empty/,
    ],
    [
      'a malformed attempt multiaddr',
      (r) => {
        attempt(r, 0).multiAddresses[1] = BAD_MULTIADDR
      },
      'hole_punch_attempts[0].multi_addresses[1]',
    ],
    [
      'a malformed latency multiaddr',
      (r) => {
        latency(r, 1).multiAddress = BAD_MULTIADDR
      },
      'latency_measurements[1].multi_address',
    ],
  ]
  for (const [name, mutate, field, reason] of cases) {
    it(`rejects ${name} (${field})`, () => {
      assertInvalid(() => toHolePunchReport(report(mutate), NOW), field, reason)
    })
  }

  // docs/PROTOCOL.md, "Storage": only old clients that sent no rtt_errs marked a failed ping with a -1 RTT; a
  // client that sends rtt_errs says "" for a ping that succeeded, so a negative RTT there is
  // a broken measurement. validate.ts documents the normalisation for empty rtt_errs only but
  // also rewrites `rtt_errs[j] === ''` with a negative RTT into a failed ping and accepts it.
  it('BUG: rejects a negative RTT of a ping reported as successful (rtt_errs "")', () => {
    const req = report((r) => {
      latency(r, 0).rtts = [0.02, -1, 0.5]
      latency(r, 0).rttErrs = ['', '', 'context deadline exceeded']
    })
    assertInvalid(() => toHolePunchReport(req, NOW), 'latency_measurements[0].rtts[1]')
  })
})

describe('toHolePunchReport: mapping', () => {
  const out = toHolePunchReport(report(), NOW)
  const ms = (ns: bigint) => Number(ns / MS)

  it('round timestamps become Dates', () => {
    assert.equal(Date.parse(out.connectStartedAt), ms(T0))
    assert.equal(Date.parse(out.connectEndedAt), ms(T0 + NS / 10n))
    assert.equal(Date.parse(out.endedAt), ms(T0 + 8n * NS))
  })

  it('attempts keep their fields, enum names and optional nulls', () => {
    assert.equal(out.attempts.length, 2)
    const [a, b] = out.attempts as [(typeof out.attempts)[0], (typeof out.attempts)[0]]
    assert.equal(Date.parse(a.openedAt), ms(T0 + NS / 5n))
    assert.equal(Date.parse(a.startedAt ?? ''), ms(T0 + NS / 4n))
    assert.equal(Date.parse(a.endedAt), ms(T0 + 5n * NS))
    assert.equal(a.startRtt, 0.05)
    assert.equal(a.elapsedTime, 4.75)
    assert.equal(a.outcome, 'FAILED')
    assert.equal(a.error, 'all dials failed')
    assert.equal(a.directDialError, 'dial tcp: i/o timeout')
    assert.deepEqual(
      a.multiAddresses.map((m) => [m.maddr, m.transport]),
      [
        ['/ip4/11.0.0.20/tcp/4001', 'tcp'],
        ['/ip4/11.0.0.20/udp/4001/quic-v1', 'quic-v1'],
      ],
    )
    assert.equal(b.outcome, 'SUCCESS')
    assert.equal(b.error, null)
    assert.equal(b.directDialError, null)
  })

  it('the outcome, error and flags', () => {
    assert.equal(out.outcome, 'SUCCESS')
    assert.equal(out.error, null)
    assert.equal(out.hasDirectConns, true)
    assert.deepEqual(out.protocols, [4, 6])
    assert.equal(out.remoteId, remote.id)
  })

  it('every enum value but UNKNOWN maps to its name without prefix', () => {
    // UNKNOWN (0) is rejected: see 'UNKNOWN outcomes' below.
    const values = (e: Record<string, string | number>) =>
      Object.values(e).filter((v) => typeof v === 'number')
    const names = (e: Record<string, string | number>) => values(e).filter((v) => v !== 0)
    for (const value of names(HolePunchOutcome)) {
      const mapped = toHolePunchReport(
        report((r) => {
          r.outcome = value as HolePunchOutcome
        }),
        NOW,
      )
      assert.equal(mapped.outcome, HolePunchOutcome[value as HolePunchOutcome])
    }
    for (const value of names(HolePunchAttemptOutcome)) {
      const mapped = toHolePunchReport(
        report((r) => {
          attempt(r, 0).outcome = value as HolePunchAttemptOutcome
        }),
        NOW,
      )
      assert.equal(mapped.attempts[0]!.outcome, HolePunchAttemptOutcome[value as HolePunchAttemptOutcome])
    }
    for (const value of values(LatencyMeasurementType)) {
      const mapped = toHolePunchReport(
        report((r) => {
          latency(r, 0).mtype = value as LatencyMeasurementType
        }),
        NOW,
      )
      assert.equal(mapped.latencies[0]!.mtype, LatencyMeasurementType[value as LatencyMeasurementType])
    }
  })

  it('multiaddrs are classified', () => {
    assert.deepEqual(out.remoteMultiAddresses, [
      {
        maddr: relayAddr(relay, remote),
        isRelay: true,
        isPublic: true,
        ip: '11.0.0.1',
        ipVersion: 4,
        transport: 'tcp',
      },
    ])
    assert.deepEqual(out.openMultiAddresses[1], {
      maddr: '/ip4/11.0.0.20/tcp/4001',
      isRelay: false,
      isPublic: true,
      ip: '11.0.0.20',
      ipVersion: 4,
      transport: 'tcp',
    })
    assert.deepEqual(
      out.listenMultiAddresses.map((m) => [m.maddr, m.isPublic]),
      [
        ['/ip4/192.168.1.10/tcp/4001', false],
        ['/ip4/11.0.0.30/tcp/4001', true],
      ],
    )
  })

  it('latency measurements', () => {
    assert.deepEqual(out.latencies[0], {
      remoteId: relay.id,
      agentVersion: 'go-libp2p/0.33.0',
      protocols: ['/libp2p/circuit/relay/0.2.0/hop'],
      multiAddress: {
        maddr: '/ip4/11.0.0.1/tcp/4001',
        isRelay: false,
        isPublic: true,
        ip: '11.0.0.1',
        ipVersion: 4,
        transport: 'tcp',
      },
      rtts: [0.02, 0.021, 0.5],
      rttErrs: ['', '', 'context deadline exceeded'],
      mtype: 'TO_RELAY',
    })
    assert.equal(out.latencies[1]!.remoteId, remote.id)
    assert.equal(out.latencies[1]!.mtype, 'TO_REMOTE_AFTER_HOLE_PUNCH')
  })

  it('network information and NAT mappings', () => {
    assert.deepEqual(out.networkInformation, {
      routerLoginHtml: null,
      routerLoginHtmlError: 'no router found',
      supportsIpv6: false,
      supportsIpv6Error: null,
    })
    assert.deepEqual(out.natMappings, [
      { internalPort: 4001, externalPort: 40001, protocol: 'tcp', addr: '11.0.0.30', addrNetwork: 'ip4' },
    ])
  })

  it('the output does not share arrays with the request', () => {
    const req = report()
    const mapped = toHolePunchReport(req, NOW)
    req.protocols.push(41)
    latency(req, 0).rtts.push(1)
    assert.deepEqual(mapped.protocols, [4, 6])
    assert.equal(mapped.latencies[0]!.rtts.length, 3)
  })
})

describe('timestampField', () => {
  it('converts Unix nanoseconds to an ISO string with microseconds (what timestamptz stores)', () => {
    assert.equal(timestampField(T0, 'x', NOW), '2023-11-14T22:13:20.123456Z')
    assert.equal(timestampField(EARLIEST_TIMESTAMP_NS, 'x', NOW), '2015-01-01T00:00:00.000000Z')
    assert.equal(timestampField(EARLIEST_TIMESTAMP_NS + 1_999n, 'x', NOW), '2015-01-01T00:00:00.000001Z')
  })

  it('accepts exactly one day ahead and rejects one ns more', () => {
    timestampField(NOW + MAX_CLOCK_AHEAD_NS, 'x', NOW)
    assertInvalid(() => timestampField(NOW + MAX_CLOCK_AHEAD_NS + 1n, 'x', NOW), 'x', /future/)
  })
})

describe('assertRequiredFields', () => {
  const cases: [string, Mutate, string][] = [
    ['client_id', (r) => clearField(r, TR.clientId), 'client_id'],
    ['remote_id', (r) => clearField(r, TR.remoteId), 'remote_id'],
    ['connect_started_at', (r) => clearField(r, TR.connectStartedAt), 'connect_started_at'],
    ['connect_ended_at', (r) => clearField(r, TR.connectEndedAt), 'connect_ended_at'],
    ['has_direct_conns', (r) => clearField(r, TR.hasDirectConns), 'has_direct_conns'],
    ['outcome', (r) => clearField(r, TR.outcome), 'outcome'],
    ['ended_at', (r) => clearField(r, TR.endedAt), 'ended_at'],
    ['api_key', (r) => clearField(r, TR.apiKey), 'api_key'],
    [
      'the first missing field in field order',
      (r) => {
        clearField(r, TR.apiKey)
        clearField(r, TR.connectEndedAt)
      },
      'connect_ended_at',
    ],
    [
      'an attempt opened_at',
      (r) => clearField(attempt(r, 0), AT.openedAt),
      'hole_punch_attempts[0].opened_at',
    ],
    ['an attempt ended_at', (r) => clearField(attempt(r, 1), AT.endedAt), 'hole_punch_attempts[1].ended_at'],
    [
      'an attempt elapsed_time',
      (r) => clearField(attempt(r, 1), AT.elapsedTime),
      'hole_punch_attempts[1].elapsed_time',
    ],
    ['an attempt outcome', (r) => clearField(attempt(r, 0), AT.outcome), 'hole_punch_attempts[0].outcome'],
    [
      'a latency remote_id',
      (r) => clearField(latency(r, 1), LM.remoteId),
      'latency_measurements[1].remote_id',
    ],
    [
      'a latency agent_version',
      (r) => clearField(latency(r, 0), LM.agentVersion),
      'latency_measurements[0].agent_version',
    ],
    [
      'a latency multi_address',
      (r) => clearField(latency(r, 0), LM.multiAddress),
      'latency_measurements[0].multi_address',
    ],
    ['a latency mtype', (r) => clearField(latency(r, 1), LM.mtype), 'latency_measurements[1].mtype'],
    [
      'a NAT internal_port',
      (r) => clearField(natMapping(r, 0), NM.internalPort),
      'nat_mappings[0].internal_port',
    ],
    [
      'a NAT external_port',
      (r) => clearField(natMapping(r, 0), NM.externalPort),
      'nat_mappings[0].external_port',
    ],
    ['a NAT protocol', (r) => clearField(natMapping(r, 0), NM.protocol), 'nat_mappings[0].protocol'],
    ['a NAT addr', (r) => clearField(natMapping(r, 0), NM.addr), 'nat_mappings[0].addr'],
    [
      'a NAT addr_network',
      (r) => clearField(natMapping(r, 0), NM.addrNetwork),
      'nat_mappings[0].addr_network',
    ],
    [
      'a field of the third attempt',
      (r) => {
        r.holePunchAttempts.push(
          create(HolePunchAttemptSchema, { openedAt: 1n, endedAt: 2n, elapsedTime: 0 }),
        )
      },
      'hole_punch_attempts[2].outcome',
    ],
  ]
  for (const [name, mutate, path] of cases) {
    it(`finds a missing ${name} (${path})`, () => {
      assertInvalid(
        () => assertRequiredFields(TrackHolePunchRequestSchema, report(mutate)),
        path,
        /required field is missing/,
      )
    })
  }

  const optional: [string, Mutate][] = [
    ['error', (r) => clearField(r, TR.error)],
    ['network_information', (r) => clearField(r, TR.networkInformation)],
    [
      'every network_information field',
      (r) => {
        r.networkInformation = create(NetworkInformationSchema)
      },
    ],
    [
      'attempt started_at, start_rtt, error, direct_dial_error',
      (r) => {
        for (const f of [AT.startedAt, AT.startRtt, AT.error, AT.directDialError])
          clearField(attempt(r, 0), f)
      },
    ],
    [
      'every repeated field',
      (r) => {
        r.holePunchAttempts = []
        r.latencyMeasurements = []
        r.natMappings = []
        r.protocols = []
        r.remoteMultiAddresses = []
      },
    ],
    [
      'required fields set to their zero value',
      (r) => {
        r.hasDirectConns = false
        r.outcome = HolePunchOutcome.UNKNOWN
        r.apiKey = ''
        latency(r, 0).mtype = LatencyMeasurementType.TO_RELAY
        natMapping(r, 0).internalPort = 0
      },
    ],
  ]
  for (const [name, mutate] of optional) {
    it(`accepts a report without ${name}`, () => {
      assertRequiredFields(TrackHolePunchRequestSchema, report(mutate))
    })
  }

  it('an empty message misses its first required field', () => {
    assertInvalid(
      () => assertRequiredFields(TrackHolePunchRequestSchema, create(TrackHolePunchRequestSchema)),
      'client_id',
    )
  })

  it('checks the other requests too', () => {
    const register = create(RegisterRequestSchema, { clientId: client.bytes, agentVersion: 'x', apiKey: 'k' })
    assertRequiredFields(RegisterRequestSchema, register)
    clearField(register, RegisterRequestSchema.field.agentVersion)
    assertInvalid(() => assertRequiredFields(RegisterRequestSchema, register), 'agent_version')

    const getAddrInfo = create(GetAddrInfoRequestSchema, { hostId: client.bytes, apiKey: 'k' })
    assertRequiredFields(GetAddrInfoRequestSchema, getAddrInfo)
    assertInvalid(
      () =>
        assertRequiredFields(
          GetAddrInfoRequestSchema,
          create(GetAddrInfoRequestSchema, { hostId: client.bytes }),
        ),
      'api_key',
    )
  })
})

describe('toHolePunchReport: UNKNOWN outcomes', () => {
  it('rejects a round outcome UNKNOWN (what a client that forgot the field sends)', () => {
    assertInvalid(
      () =>
        toHolePunchReport(
          report((r) => (r.outcome = HolePunchOutcome.UNKNOWN)),
          NOW,
        ),
      'outcome',
      /UNKNOWN is not an outcome/,
    )
  })
  it('rejects an attempt outcome UNKNOWN', () => {
    assertInvalid(
      () =>
        toHolePunchReport(
          report((r) => (attempt(r, 1).outcome = HolePunchAttemptOutcome.UNKNOWN)),
          NOW,
        ),
      'hole_punch_attempts[1].outcome',
      /UNKNOWN/,
    )
  })
})
