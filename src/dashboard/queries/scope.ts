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
