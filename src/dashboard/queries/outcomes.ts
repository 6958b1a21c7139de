import type { Queryable } from '../../db/database.js'
import type { HolePunchOutcomeName } from '../../db/hole-punches.js'
import { bucketSeconds, bucketStarts, fillBuckets, type Proportion, proportion } from '../statistics.js'
import { type ResultScope, scoped } from './scope.js'

/** The proto enum's value of each outcome; a Record, so that the compiler finds a missing one. */
const OUTCOME_VALUES: Record<HolePunchOutcomeName, number> = {
  UNKNOWN: 0,
  NO_CONNECTION: 1,
  NO_STREAM: 2,
  CONNECTION_REVERSED: 3,
  CANCELLED: 4,
  FAILED: 5,
  SUCCESS: 6,
}

/** Every stored outcome, in the order of the proto enum. */
export const OUTCOMES = Object.keys(OUTCOME_VALUES) as HolePunchOutcomeName[]

export type OutcomeCounts = Record<HolePunchOutcomeName, number>

/**
 * The success rate of SPEC §7: SUCCESS / (SUCCESS + FAILED). The other outcomes say nothing
 * about hole punching itself (no relayed connection, no DCUtR stream, stopped by the user).
 */
export function successRate(counts: OutcomeCounts): Proportion {
  return proportion(counts.SUCCESS, counts.SUCCESS + counts.FAILED)
}

export interface OutcomeTotals {
  results: number
  outcomes: OutcomeCounts
  successRate: Proportion
  /** Distinct client hosts and remotes among the results. */
  clients: number
  remotes: number
}

/** Counts per outcome and of distinct hosts over a scope, in one pass over the results. */
export async function outcomeTotals(db: Queryable, scope: ResultScope): Promise<OutcomeTotals> {
  const q = scoped(scope)
  const rows = await db.query<{
    outcome: HolePunchOutcomeName | null
    n: number
    clients: number
    remotes: number
  }>(
    `SELECT CASE WHEN GROUPING(r.outcome) = 0 THEN r.outcome::text END AS outcome, count(*)::int AS n,
       count(DISTINCT r.client_id)::int AS clients, count(DISTINCT r.remote_id)::int AS remotes
     FROM hole_punch_results r WHERE ${q.where}
     GROUP BY GROUPING SETS ((r.outcome), ())`,
    q.params,
  )
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeCounts
  let all = { n: 0, clients: 0, remotes: 0 }
  for (const row of rows) {
    if (row.outcome === null) all = row
    else outcomes[row.outcome] = row.n
  }
  return {
    results: all.n,
    outcomes,
    successRate: successRate(outcomes),
    clients: all.clients,
    remotes: all.remotes,
  }
}

export interface OutcomeBucket {
  /** Start of the bucket (ISO 8601); it spans `bucketSeconds`. */
  start: string
  outcomes: OutcomeCounts
  successRate: Proportion
}

export interface OutcomeSeries {
  bucketSeconds: number
  buckets: OutcomeBucket[]
}

/**
 * Outcomes per time bucket (epoch-aligned, at most 200 over the range), empty buckets
 * included: the success rate over time and the outcome mix over time.
 */
export async function outcomeSeries(db: Queryable, scope: ResultScope): Promise<OutcomeSeries> {
  const since = scope.since.getTime() / 1000
  const until = scope.until.getTime() / 1000
  const step = bucketSeconds(until - since)
  const q = scoped(scope)
  const width = q.param(step)
  const rows = await db.query<{ bucket: number; key: HolePunchOutcomeName; n: number }>(
    `SELECT (floor(extract(epoch FROM r.created_at) / ${width}::int) * ${width}::int)::float8 AS bucket,
       r.outcome::text AS key, count(*)::int AS n
     FROM hole_punch_results r WHERE ${q.where}
     GROUP BY 1, 2`,
    q.params,
  )
  const buckets = fillBuckets(bucketStarts(since, until, step), OUTCOMES, rows).map((b) => ({
    start: new Date(b.start * 1000).toISOString(),
    outcomes: b.counts,
    successRate: successRate(b.counts),
  }))
  return { bucketSeconds: step, buckets }
}
