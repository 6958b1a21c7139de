import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, equals, isFieldSet } from '@bufbuild/protobuf'
import {
  HolePunchAttemptSchema,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import type { ClientImplementation } from '../../src/server/client-capabilities.js'
import { KNOWN_QUIRKS, normaliseQuirks } from '../../src/server/quirks.js'
import { toHolePunchReport } from '../../src/server/validate.js'
import { ValidationError } from '../../src/server/validation-error.js'
import { maBytes, newPeer } from '../support/fixtures.js'
import { goQuirkyReport, rustNoStreamReport, rustQuirkySuccess } from '../support/legacy-reports.js'

const S = 1_000_000_000n
const T0 = 1_700_000_000_000_000_000n
const NOW = T0 + 3600n * S
const parties = {
  client: await newPeer(),
  remote: await newPeer(),
  relay: await newPeer(),
  apiKey: 'k',
  t0: T0,
}

/** The ValidationError field `fn` throws. */
function refusedField(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err))
    return err.field
  }
  assert.fail('expected the report to be refused')
}

describe('known quirks of the Go client', () => {
  it('are normalised and named; the report as sent is left untouched', () => {
    const sent = goQuirkyReport(parties)
    const copy = structuredClone(sent)
    const { request, quirks } = normaliseQuirks(sent, 'punchr-go')
    assert.deepEqual(quirks, [
      'go-attempt-opened-late',
      'go-no-stream-after-attempts',
      'go-empty-attempt-errors',
    ])
    assert.ok(equals(TrackHolePunchRequestSchema, sent, copy), 'the request as sent is unchanged')

    const attempt = request.holePunchAttempts[0]!
    assert.equal(attempt.openedAt, attempt.startedAt, 'opened_at moved to the first event, started_at')
    assert.equal(request.outcome, 5 /* FAILED */)
    assert.equal(isFieldSet(attempt, HolePunchAttemptSchema.field.error), false)
    assert.equal(isFieldSet(attempt, HolePunchAttemptSchema.field.directDialError), false)

    const stored = toHolePunchReport(request, NOW)
    assert.equal(stored.outcome, 'FAILED')
    assert.equal(stored.attempts[0]!.error, null)
    assert.equal(stored.attempts[0]!.openedAt, stored.attempts[0]!.startedAt)
  })

  it('opened_at after both events moves to the earlier of them, the end when the start is missing', () => {
    const sent = goQuirkyReport(parties)
    const attempt = sent.holePunchAttempts[0]!
    attempt.startedAt = attempt.endedAt + S // an event out of order: the end is first
    assert.equal(normaliseQuirks(sent, 'punchr-go').request.holePunchAttempts[0]!.openedAt, attempt.endedAt)
  })

  it('a Go report without the quirks is stored as sent, with no quirk named', () => {
    const sent = goQuirkyReport(parties)
    const attempt = sent.holePunchAttempts[0]!
    attempt.openedAt = attempt.startedAt - S
    attempt.error = 'all dials failed'
    attempt.directDialError = 'dial backoff'
    sent.outcome = 5
    const { request, quirks } = normaliseQuirks(sent, 'punchr-go')
    assert.deepEqual(quirks, [])
    assert.ok(equals(TrackHolePunchRequestSchema, request, sent))
  })

  it('a ping series longer than the limit keeps its first pings', () => {
    const sent = goQuirkyReport(parties)
    const rtts = Array.from({ length: 5000 }, (_, i) => 0.00005 + i * 1e-9)
    sent.latencyMeasurements = [
      create(LatencyMeasurementSchema, {
        remoteId: parties.remote.bytes,
        agentVersion: 'go-libp2p/0.49.0',
        protocols: ['/ipfs/ping/1.0.0'],
        multiAddress: maBytes('/ip4/11.0.0.7/tcp/4101'),
        rtts,
        rttErrs: rtts.map(() => ''),
        mtype: LatencyMeasurementType.TO_REMOTE_AFTER_HOLE_PUNCH,
      }),
    ]
    // From our client (whose reports have no other quirk), the long series is refused.
    const ours = create(TrackHolePunchRequestSchema, { ...sent, holePunchAttempts: [], outcome: 5 })
    assert.equal(
      refusedField(() => toHolePunchReport(normaliseQuirks(ours, 'punchr-ts').request, NOW)),
      'latency_measurements[0].rtts',
    )
    const { request, quirks } = normaliseQuirks(sent, 'punchr-go')
    assert.ok(quirks.includes('go-unbounded-ping-series'))
    const stored = toHolePunchReport(request, NOW).latencies[0]!
    assert.equal(stored.rtts.length, LIMITS.maxRttsPerMeasurement)
    assert.equal(stored.rttErrs.length, LIMITS.maxRttsPerMeasurement)
    assert.deepEqual(stored.rtts, rtts.slice(0, LIMITS.maxRttsPerMeasurement))
    assert.equal(sent.latencyMeasurements[0]!.rtts.length, 5000, 'the request as sent is unchanged')
  })

  it('anything that is not a known quirk is still refused with the field named', () => {
    const sent = goQuirkyReport(parties)
    sent.connectStartedAt = 1_700_000_000n // seconds, not nanoseconds
    const { request } = normaliseQuirks(sent, 'punchr-go')
    assert.equal(
      refusedField(() => toHolePunchReport(request, NOW)),
      'connect_started_at',
    )
  })
})

describe('known quirks of the Rust client', () => {
  it('elapsed_time in microseconds becomes seconds from the attempt’s own timestamps; opened_at = connect time is flagged', () => {
    const sent = rustQuirkySuccess(parties)
    const { request, quirks } = normaliseQuirks(sent, 'punchr-rust')
    assert.deepEqual(quirks, ['rust-elapsed-microseconds', 'rust-opened-at-connect'])
    assert.equal(sent.holePunchAttempts[0]!.elapsedTime, 50_000)
    assert.equal(request.holePunchAttempts[0]!.elapsedTime, 0.05)
    assert.equal(
      request.holePunchAttempts[0]!.openedAt,
      sent.holePunchAttempts[0]!.openedAt,
      'kept: unprovable',
    )
    assert.equal(toHolePunchReport(request, NOW).attempts[0]!.elapsedTime, 0.05)
  })

  it('an elapsed_time already in seconds is left alone', () => {
    const sent = rustQuirkySuccess(parties)
    sent.holePunchAttempts[0]!.elapsedTime = 0.05
    assert.deepEqual(normaliseQuirks(sent, 'punchr-rust').quirks, ['rust-opened-at-connect'])
  })

  it('FAILED without an attempt after the relayed connection closed is NO_STREAM', () => {
    const { request, quirks } = normaliseQuirks(rustNoStreamReport(parties), 'punchr-rust')
    assert.deepEqual(quirks, ['rust-no-stream-as-failed'])
    assert.equal(toHolePunchReport(request, NOW).outcome, 'NO_STREAM')
  })
})

describe('strict with everyone else', () => {
  const others: ClientImplementation[] = ['punchr-ts', 'other']
  for (const implementation of others) {
    it(`${implementation}: nothing is normalised, and the quirky reports are refused with the field named`, () => {
      for (const build of [goQuirkyReport, rustQuirkySuccess]) {
        const sent = build(parties)
        const { request, quirks } = normaliseQuirks(sent, implementation)
        assert.deepEqual(quirks, [])
        assert.equal(request, sent)
      }
      assert.match(
        refusedField(() => toHolePunchReport(goQuirkyReport(parties), NOW)),
        /^hole_punch_attempts\[0\]\.(started_at|ended_at)$/,
      )
      assert.equal(
        refusedField(() => toHolePunchReport(rustQuirkySuccess(parties), NOW)),
        'hole_punch_attempts[0].elapsed_time',
      )
    })
  }

  it("one implementation's quirks are not applied to the other's reports", () => {
    assert.deepEqual(normaliseQuirks(goQuirkyReport(parties), 'punchr-rust').quirks, [])
    assert.deepEqual(normaliseQuirks(rustQuirkySuccess(parties), 'punchr-go').quirks, [])
  })

  it('every quirk belongs to an old client, and its code names that client', () => {
    for (const quirk of KNOWN_QUIRKS) {
      assert.ok(['punchr-go', 'punchr-rust'].includes(quirk.implementation), quirk.code)
      assert.ok(quirk.code.startsWith(quirk.implementation.replace('punchr-', '')), quirk.code)
    }
  })
})
