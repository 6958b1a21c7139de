import { clearField, clone, isFieldSet } from '@bufbuild/protobuf'
import {
  type HolePunchAttempt,
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../gen/punchr_pb.js'
import { LIMITS } from '../lib/report-limits.js'
import type { ClientImplementation } from './client-capabilities.js'

/**
 * Known quirks of the original Go and Rust punchr clients. A report from such a client that
 * shows one is not refused (a refused report is a lost measurement): the quirk is normalised
 * and named in the result's `quirks` column, so an analysis can keep or exclude those rows.
 * Normalising changes only what the report itself proves; a value it cannot prove is kept and
 * the row flagged. Each quirk applies to its own implementation only: our client's reports,
 * and those of any other agent, meet the strict rules of validate.ts unchanged, and whatever a
 * normalised report still breaks is refused with the field named, as for everyone.
 * docs/INTEROP.md ("Known quirks") has the table with the evidence for each.
 */

export type QuirkCode =
  | 'go-attempt-opened-late'
  | 'go-no-stream-after-attempts'
  | 'go-empty-attempt-errors'
  | 'go-unbounded-ping-series'
  | 'rust-elapsed-microseconds'
  | 'rust-opened-at-connect'
  | 'rust-no-stream-as-failed'

interface Quirk {
  code: QuirkCode
  implementation: ClientImplementation
  /** Normalises the quirk in `req` (a copy) where it shows; true when it did. */
  normalise(req: TrackHolePunchRequest): boolean
}

const STARTED_AT = HolePunchAttemptSchema.field.startedAt
const ATTEMPT_ERROR = HolePunchAttemptSchema.field.error
const DIRECT_DIAL_ERROR = HolePunchAttemptSchema.field.directDialError
const NS_PER_SECOND = 1e9
const NS_PER_MICROSECOND = 1e3

/** The error the Rust client ends a round with when the relayed connection closed without any attempt. */
export const RUST_CLOSED_WITHOUT_PUNCH = 'connection closed without a successful hole-punch'

const succeeded = (a: HolePunchAttempt) =>
  a.outcome === HolePunchAttemptOutcome.SUCCESS || a.outcome === HolePunchAttemptOutcome.DIRECT_DIAL

export const KNOWN_QUIRKS: readonly Quirk[] = [
  {
    // The Go client takes an attempt's opened_at from its clock when it starts reading the
    // attempt's hole-punch events, after it waited for the dcutr stream, while the events it
    // then reads carry their own, earlier timestamps (go-libp2p's tracer buffers them). So
    // started_at, even ended_at, can be seconds before opened_at. The stream was open by the
    // attempt's first event: opened_at becomes that time, the latest the stream can have
    // opened. Its true opening time is unknown, so durations of these rows should start at
    // started_at.
    code: 'go-attempt-opened-late',
    implementation: 'punchr-go',
    normalise(req) {
      let changed = false
      for (const a of req.holePunchAttempts) {
        const started = isFieldSet(a, STARTED_AT) ? a.startedAt : undefined
        const firstEvent = started !== undefined && started < a.endedAt ? started : a.endedAt
        if (a.openedAt > firstEvent) {
          a.openedAt = firstEvent
          changed = true
        }
      }
      return changed
    },
  },
  {
    // The Go client stops waiting when no dcutr stream opens within 15 s and reports
    // NO_STREAM, even after attempts on earlier streams failed. A round with attempts is by
    // definition not NO_STREAM: FAILED (SUCCESS if one of them succeeded, which that client
    // would have reported itself).
    code: 'go-no-stream-after-attempts',
    implementation: 'punchr-go',
    normalise(req) {
      if (req.outcome !== HolePunchOutcome.NO_STREAM || req.holePunchAttempts.length === 0) return false
      req.outcome = req.holePunchAttempts.some(succeeded) ? HolePunchOutcome.SUCCESS : HolePunchOutcome.FAILED
      return true
    },
  },
  {
    // The Go client always sets an attempt's error and direct_dial_error, "" when there was
    // none: stored as no error, so that counting attempts with an error counts errors.
    code: 'go-empty-attempt-errors',
    implementation: 'punchr-go',
    normalise(req) {
      let changed = false
      for (const a of req.holePunchAttempts) {
        for (const field of [ATTEMPT_ERROR, DIRECT_DIAL_ERROR]) {
          if (isFieldSet(a, field) && (a as unknown as Record<string, unknown>)[field.localName] === '') {
            clearField(a, field)
            changed = true
          }
        }
      }
      return changed
    },
  },
  {
    // The Go client pings back to back for 10 s on one stream, with no count limit: as many
    // pings as 10 s over the RTT (hundreds on the internet, ~10^5 between the NAT lab's
    // namespaces). The first LIMITS.maxRttsPerMeasurement pings of each series are kept, the
    // bound for every client; the series' aggregates are then those of the kept pings.
    code: 'go-unbounded-ping-series',
    implementation: 'punchr-go',
    normalise(req) {
      let changed = false
      for (const m of req.latencyMeasurements) {
        if (m.rtts.length <= LIMITS.maxRttsPerMeasurement) continue
        // rtt_errs is parallel to rtts, or empty (old clients' -1 sentinels); validate.ts checks which.
        if (m.rttErrs.length === m.rtts.length) m.rttErrs = m.rttErrs.slice(0, LIMITS.maxRttsPerMeasurement)
        m.rtts = m.rtts.slice(0, LIMITS.maxRttsPerMeasurement)
        changed = true
      }
      return changed
    },
  },
  {
    // The Rust client computes elapsed_time as (ended_at − started_at) in nanoseconds divided
    // by 1000: microseconds, sent as seconds. The attempt's own timestamps prove the true
    // value, which replaces it.
    code: 'rust-elapsed-microseconds',
    implementation: 'punchr-rust',
    normalise(req) {
      let changed = false
      for (const a of req.holePunchAttempts) {
        if (!isFieldSet(a, STARTED_AT) || a.endedAt < a.startedAt) continue
        const spanNs = Number(a.endedAt - a.startedAt)
        const micros = spanNs / NS_PER_MICROSECOND
        const seconds = spanNs / NS_PER_SECOND
        // float32 on the wire: ~6e-8 relative error per rounding, two roundings.
        if (closeTo(a.elapsedTime, micros) && !closeTo(a.elapsedTime, seconds)) {
          a.elapsedTime = seconds
          changed = true
        }
      }
      return changed
    },
  },
  {
    // The Rust client sets every attempt's opened_at to the time the relayed connection was
    // established, not to when the dcutr stream opened. The report cannot tell the true time:
    // kept, and flagged.
    code: 'rust-opened-at-connect',
    implementation: 'punchr-rust',
    normalise(req) {
      return req.holePunchAttempts.some((a) => a.openedAt === req.connectEndedAt)
    },
  },
  {
    // The Rust client never reports NO_STREAM: when the remote opens no dcutr stream it waits
    // until the relayed connection closes and reports FAILED without any attempt. A round
    // without an attempt is NO_STREAM (docs/OUTCOMES.md).
    code: 'rust-no-stream-as-failed',
    implementation: 'punchr-rust',
    normalise(req) {
      if (
        req.outcome !== HolePunchOutcome.FAILED ||
        req.holePunchAttempts.length > 0 ||
        req.error !== RUST_CLOSED_WITHOUT_PUNCH
      )
        return false
      req.outcome = HolePunchOutcome.NO_STREAM
      return true
    },
  },
]

/**
 * The report with the known quirks of its client's implementation normalised, and the codes
 * of those it showed (in KNOWN_QUIRKS order). `req` itself is left as sent: its bytes are the
 * report's identity for retries.
 */
export function normaliseQuirks(
  req: TrackHolePunchRequest,
  implementation: ClientImplementation,
): { request: TrackHolePunchRequest; quirks: QuirkCode[] } {
  const quirks = KNOWN_QUIRKS.filter((q) => q.implementation === implementation)
  if (quirks.length === 0) return { request: req, quirks: [] }
  const request = clone(TrackHolePunchRequestSchema, req)
  return { request, quirks: quirks.filter((q) => q.normalise(request)).map((q) => q.code) }
}

function closeTo(value: number, target: number): boolean {
  return Math.abs(value - target) <= Math.max(1e-6 * Math.abs(target), 1e-9)
}
