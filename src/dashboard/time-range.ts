// The time range every dashboard view, `punchr report` and `punchr export` take: `since` and
// `until` as ISO-8601 times or as durations before now (`24h`, `7d`).
import { UserFacingError } from '../lib/errors.js'

/** A parameter from outside (URL or flag) is not acceptable; the message says which and why. */
export class InvalidParameterError extends UserFacingError {
  override readonly name = 'InvalidParameterError'
}

/** [since, until): results stored at or after `since` and before `until`. */
export interface TimeRange {
  since: Date
  until: Date
}

/** Without `since`, a range covers the week before `until`. */
export const DEFAULT_RANGE_MS = 7 * 86_400_000

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

// A date, or a date and time with an optional zone. Date.parse alone accepts far more
// (`1`, `March 7`) and reads a time without zone as local time, which differs per machine.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** Parses one bound: `now`, `<n>m|h|d|w` (that long before now) or ISO 8601 (UTC unless zoned). */
export function parseTime(text: string, name: string, now: Date): Date {
  const value = text.trim()
  if (value === 'now') return now
  const relative = /^(\d{1,6})([mhdw])$/.exec(value)
  if (relative !== null) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]!]!)
  const iso = ISO.exec(value)
  if (iso !== null) {
    const zoned = iso[4] === undefined ? `${value}T00:00:00Z` : iso[7] === undefined ? `${value}Z` : value
    const date = new Date(zoned.replace(' ', 'T'))
    // Date rolls 2026-02-30 over to March; a date that does not exist is a typo.
    const [year, month, day] = [Number(iso[1]), Number(iso[2]), Number(iso[3])]
    const calendar = new Date(Date.UTC(year, month - 1, day))
    if (
      !Number.isNaN(date.getTime()) &&
      calendar.getUTCMonth() === month - 1 &&
      calendar.getUTCDate() === day &&
      Number(iso[4] ?? 0) < 24 &&
      Number(iso[5] ?? 0) < 60 &&
      Number(iso[6] ?? 0) < 60
    )
      return date
  }
  throw new InvalidParameterError(
    `${name}: ${JSON.stringify(text)} is not a time; use ISO 8601 (2026-11-25, 2026-11-25T14:00:00Z), 'now' or a duration before now (30m, 24h, 7d, 2w)`,
  )
}

/** The range of optional `since`/`until` texts; `until` defaults to now, `since` to a week before it. */
export function parseTimeRange(
  since: string | undefined,
  until: string | undefined,
  now: Date = new Date(),
): TimeRange {
  const end = until === undefined ? now : parseTime(until, 'until', now)
  const start =
    since === undefined ? new Date(end.getTime() - DEFAULT_RANGE_MS) : parseTime(since, 'since', now)
  if (start.getTime() >= end.getTime())
    throw new InvalidParameterError(
      `since (${start.toISOString()}) must be before until (${end.toISOString()})`,
    )
  return { since: start, until: end }
}
