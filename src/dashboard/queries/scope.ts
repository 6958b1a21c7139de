import type { TimeRange } from '../time-range.js'

/** Which results a view covers: a time range of `created_at`, optionally one API key's. */
export interface ResultScope extends TimeRange {
  /** Only results of client hosts registered with this authorization ("my results"). */
  authorizationId?: number | undefined
}

/** SQL conditions on `hole_punch_results r` and their parameters; `param` adds one more. */
export interface ScopedSql {
  where: string
  params: unknown[]
  /** Appends a parameter and returns its placeholder (`$3`). */
  param(value: unknown): string
}

/**
 * The WHERE conditions of a scope. The time range is on `created_at` (the server's clock,
 * indexed) rather than `ended_at` (the client's clock, which may be off). "My results" goes
 * through `clients`, whose rows bind each host to the key it registered with, and uses the
 * (client_id, created_at) index.
 */
export function scoped(scope: ResultScope): ScopedSql {
  const params: unknown[] = [scope.since.toISOString(), scope.until.toISOString()]
  const param = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  let where = 'r.created_at >= $1::timestamptz AND r.created_at < $2::timestamptz'
  if (scope.authorizationId !== undefined)
    where += ` AND r.client_id IN (SELECT c.id FROM clients c WHERE c.authorization_id = ${param(scope.authorizationId)})`
  return { where, params, param }
}

/** A scope cut into what the hourly tables answer and what raw rows must. */
export interface HourlySql extends ScopedSql {
  /** Conditions on the `hour` column of hole_punch_result_counts and rtt_histograms. */
  hours: string
  /** Conditions on `hole_punch_results r` selecting the results the hours do not cover. */
  raw: string
}

const HOUR_MS = 3_600_000

/**
 * The whole UTC hours of a scope come from the hourly tables insertHolePunchReports keeps
 * (hole_punch_result_counts, rtt_histograms): a few rows per hour, however many results it
 * holds. Only the partial hours at either end are counted from raw rows (through the
 * created_at index), so the sum is exactly what the raw rows give. The tables count
 * everyone's results: one key's ("my results"), and callers that need finer than hours
 * (`wholeHours` false), read raw rows only.
 */
export function hourly(scope: ResultScope, wholeHours = true): HourlySql {
  const q = scoped(scope)
  if (scope.authorizationId !== undefined || !wholeHours) return { ...q, hours: 'false', raw: q.where }
  const since = scope.since.getTime()
  const until = scope.until.getTime()
  const from = Math.min(Math.ceil(since / HOUR_MS) * HOUR_MS, until)
  const to = Math.max(from, Math.floor(until / HOUR_MS) * HOUR_MS)
  const h0 = q.param(new Date(from).toISOString())
  const h1 = q.param(new Date(to).toISOString())
  return {
    ...q,
    hours: `hour >= ${h0}::timestamptz AND hour < ${h1}::timestamptz`,
    // Two ranges of the index rather than one range with a hole, which would read the hole too.
    raw: `((r.created_at >= $1::timestamptz AND r.created_at < ${h0}::timestamptz)
      OR (r.created_at >= ${h1}::timestamptz AND r.created_at < $2::timestamptz))`,
  }
}
