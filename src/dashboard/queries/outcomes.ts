import type { Queryable } from '../../db/database.js'
import type { HolePunchOutcomeName } from '../../db/hole-punches.js'
import { bucketSeconds, bucketStarts, fillBuckets, type Proportion, proportion } from '../statistics.js'
import { groupCounts } from './counts.js'
import { hourly, type ResultScope, scoped } from './scope.js'

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
 * The success rate (docs/PROTOCOL.md, "Success rate"): SUCCESS / (SUCCESS + FAILED). The other
 * outcomes say nothing about hole punching itself (no relayed connection, no DCUtR stream,
 * stopped by the user).
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

/**
 * Counts per outcome (hourly counts and the partial hours) and of distinct hosts over a
 * scope. Distinct counts do not add up over hours: when no result is newer than the range
 * (the page's presets end now) they are the hosts whose last result is in it (last_results),
 * otherwise, and for one key, they are counted from the range's results.
 */
export async function outcomeTotals(db: Queryable, scope: ResultScope): Promise<OutcomeTotals> {
  const h = hourly(scope)
  const [rows, hosts] = await Promise.all([
    db.query<{ outcome: HolePunchOutcomeName; n: number }>(
      `SELECT outcome::text AS outcome, sum(n)::int AS n FROM (${groupCounts(h, 'outcome')}) c GROUP BY 1`,
      h.params,
    ),
    distinctHosts(db, scope),
  ])
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeCounts
  for (const row of rows) outcomes[row.outcome] = row.n
  return {
    results: rows.reduce((a, r) => a + r.n, 0),
    outcomes,
    successRate: successRate(outcomes),
    ...hosts,
  }
}

async function distinctHosts(
  db: Queryable,
  scope: ResultScope,
): Promise<{ clients: number; remotes: number }> {
  const q = scoped(scope)
  if (scope.authorizationId === undefined) {
    const last = (role: string) =>
      `(SELECT count(*)::int FROM last_results WHERE role = '${role}' AND created_at >= $1::timestamptz)`
    const [row] = await db.query<{ newer: boolean; clients: number; remotes: number }>(
      `SELECT EXISTS (SELECT 1 FROM hole_punch_results r WHERE r.created_at >= $2::timestamptz) AS newer,
         ${last('client')} AS clients, ${last('remote')} AS remotes`,
      q.params,
    )
    if (row !== undefined && !row.newer) return { clients: row.clients, remotes: row.remotes }
  }
  const [row] = await db.query<{ clients: number; remotes: number }>(
    `SELECT count(DISTINCT r.client_id)::int AS clients, count(DISTINCT r.remote_id)::int AS remotes
     FROM hole_punch_results r WHERE ${q.where}`,
    q.params,
  )
  return { clients: row?.clients ?? 0, remotes: row?.remotes ?? 0 }
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
 * included: the success rate over time and the outcome mix over time. Buckets of whole hours
 * sum the hourly counts; narrower ones (ranges up to two days) count raw rows.
 */
export async function outcomeSeries(db: Queryable, scope: ResultScope): Promise<OutcomeSeries> {
  const since = scope.since.getTime() / 1000
  const until = scope.until.getTime() / 1000
  const step = bucketSeconds(until - since)
  const h = hourly(scope, step % 3600 === 0)
  const width = h.param(step)
  const rows = await db.query<{ bucket: number; key: HolePunchOutcomeName; n: number }>(
    `SELECT (floor(extract(epoch FROM t) / ${width}::int) * ${width}::int)::float8 AS bucket,
       outcome::text AS key, sum(n)::int AS n
     FROM (${groupCounts(h, 'outcome')}) c
     GROUP BY 1, 2`,
    h.params,
  )
  const buckets = fillBuckets(bucketStarts(since, until, step), OUTCOMES, rows).map((b) => ({
    start: new Date(b.start * 1000).toISOString(),
    outcomes: b.counts,
    successRate: successRate(b.counts),
  }))
  return { bucketSeconds: step, buckets }
}
