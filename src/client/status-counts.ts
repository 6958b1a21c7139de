// Round outcomes per minute, for the status page's "today" and "last hour" (status.ts). A
// client may finish many rounds a minute for days, so single rounds are not kept: one bucket
// per minute with a count per outcome, and only the last 24 hours of them (at most
// MAX_BUCKETS), which bounds the memory whatever the round rate. Local midnight falls on a
// minute boundary, so "today" is exact; "last hour" is the current minute and the 59 before.

export const MINUTE_MS = 60_000
/** A day of minutes and the one running: "today" never reaches further back than 24 h. */
export const MAX_BUCKETS = 24 * 60 + 1

/** What the success rate counts (docs/PROTOCOL.md, "Success rate"). */
export const SUCCESS = 'SUCCESS'
export const FAILED = 'FAILED'

export interface OutcomeTally {
  rounds: number
  /** SUCCESS rounds. */
  successes: number
  /** FAILED rounds. */
  failures: number
  /** SUCCESS / (SUCCESS + FAILED); null without either (no rate, not 0 %). */
  successRate: number | null
  byOutcome: Record<string, number>
}

export class MinuteCounts {
  /** Minute start (Unix ms) → outcome → rounds; insertion order is time order. */
  private readonly buckets = new Map<number, Map<string, number>>()

  add(outcome: string, at: number): void {
    const minute = minuteOf(at)
    let bucket = this.buckets.get(minute)
    if (bucket === undefined) {
      bucket = new Map()
      this.buckets.set(minute, bucket)
    }
    bucket.set(outcome, (bucket.get(outcome) ?? 0) + 1)
    this.prune(at)
  }

  /** The rounds of the minutes that start at or after `since` (Unix ms). */
  tallySince(since: number, now: number): OutcomeTally {
    this.prune(now)
    const byOutcome: Record<string, number> = {}
    for (const [minute, bucket] of this.buckets) {
      if (minute < since) continue
      for (const [outcome, count] of bucket) byOutcome[outcome] = (byOutcome[outcome] ?? 0) + count
    }
    return tally(byOutcome)
  }

  /** Local midnight of `now`'s day. */
  static startOfDay(now: number): number {
    const day = new Date(now)
    day.setHours(0, 0, 0, 0)
    return day.getTime()
  }

  /** The start of the first of the 60 minutes that make "the last hour" at `now`. */
  static startOfLastHour(now: number): number {
    return minuteOf(now) - 59 * MINUTE_MS
  }

  /** Buckets held (for tests of the bound). */
  get size(): number {
    return this.buckets.size
  }

  private prune(now: number): void {
    const oldest = minuteOf(now) - (MAX_BUCKETS - 1) * MINUTE_MS
    for (const minute of this.buckets.keys()) {
      // A clock set back leaves buckets "in the future"; they are kept until they age out.
      if (minute >= oldest && this.buckets.size <= MAX_BUCKETS) break
      this.buckets.delete(minute)
    }
  }
}

/** The rate and its parts from counts by outcome. */
export function tally(byOutcome: Record<string, number>): OutcomeTally {
  const successes = byOutcome[SUCCESS] ?? 0
  const failures = byOutcome[FAILED] ?? 0
  const rounds = Object.values(byOutcome).reduce((sum, n) => sum + n, 0)
  const rate = successes + failures === 0 ? null : successes / (successes + failures)
  return { rounds, successes, failures, successRate: rate, byOutcome }
}

function minuteOf(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS
}
