// Results per group and outcome, read from the hourly counts insertHolePunchReports keeps
// (hole_punch_result_counts) for the whole hours of a scope and from raw rows for the rest
// (see hourly() in scope.ts): the summary, the time series, the breakdowns and the facts
// about successes all sum these rows.
import { RESULT_GROUPS, type ResultGroupDimension } from '../../db/hole-punches.js'
import type { HourlySql } from './scope.js'

/**
 * SQL of rows `(t, key, outcome, n)`: n results of the group `key` of `dimension` with
 * `outcome`, stored at `t` (the hour of a counts row, or a raw result's created_at).
 */
export function groupCounts(h: HourlySql, dimension: ResultGroupDimension): string {
  const key = RESULT_GROUPS[dimension]
  return `SELECT hour AS t, key, outcome, results AS n FROM hole_punch_result_counts
      WHERE dimension = ${h.param(dimension)} AND ${h.hours}
    UNION ALL
    SELECT r.created_at, ${key}, r.outcome, 1 FROM hole_punch_results r WHERE ${h.raw} AND ${key} IS NOT NULL`
}
