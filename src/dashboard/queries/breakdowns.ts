import type { Queryable } from '../../db/database.js'
import type { ResultGroupDimension } from '../../db/hole-punches.js'
import { type Proportion, proportion } from '../statistics.js'
import { groupCounts } from './counts.js'
import { REMOTE_PEER_JOIN } from './joins.js'
import { hourly, type ResultScope, type ScopedSql, scoped } from './scope.js'

interface Dimension {
  /** What the groups are, for charts and the report. */
  title: string
  /** SQL of rows `(key, outcome, n)` over the scope, and its parameters. */
  counts: (scope: ResultScope) => { sql: string; q: ScopedSql }
}

/** A dimension whose groups are fixed when a result is stored: hourly counts and the partial hours. */
const counted = (title: string, dimension: ResultGroupDimension): Dimension => ({
  title,
  counts: (scope) => {
    const h = hourly(scope)
    return { sql: `SELECT key, outcome, n FROM (${groupCounts(h, dimension)}) c`, q: h }
  },
})

/**
 * The suffix of a `client-implementation` key whose results had known quirks of an old
 * client normalised before they were stored (RESULT_GROUPS in src/db/hole-punches.ts).
 */
export const NORMALISED_SUFFIX = ' (normalised)'

/**
 * The dimensions results can be grouped by. Transport and IP version come from the protocol
 * filter the server applied (docs/PROTOCOL.md, "Allocation": 15 % each of ip4+tcp, ip4+quic,
 * ip6+tcp, ip6+quic, among the filters the client can run): a filtered result could only punch
 * over that transport, so TCP and QUIC are compared on equal terms. The transport of the final
 * direct connection exists only after a success, so a success rate by it would be 100 % by
 * construction; finalConnections shows it. The client implementation tells our client's results
 * from those of the original Go and Rust clients, and those whose quirks were normalised (key +
 * NORMALISED_SUFFIX) from the rest, so that an analysis can compare them or leave the normalised
 * ones out.
 */
const DIMENSIONS = {
  transport: counted('transport (protocol filter)', 'transport'),
  'ip-version': counted('IP version (protocol filter)', 'ip-version'),
  // The agent is the remote's as the honeypot last saw it, which may change after a result
  // was stored: it cannot be counted ahead, so the results of the range are read (from the
  // covering created_at index) and their remotes looked up now.
  agent: {
    title: 'remote agent version',
    counts: (scope) => {
      const q = scoped(scope)
      return {
        sql: `SELECT coalesce(rp.agent_version, 'unknown') AS key, r.outcome, count(*) AS n
          FROM hole_punch_results r ${REMOTE_PEER_JOIN} WHERE ${q.where} GROUP BY 1, 2`,
        q,
      }
    },
  },
  'client-country': counted('client country', 'client-country'),
  'client-asn': counted('client ASN', 'client-asn'),
  'remote-country': counted('remote country', 'remote-country'),
  'remote-asn': counted('remote ASN', 'remote-asn'),
  'client-implementation': counted('client implementation', 'client-implementation'),
  'client-nat-mapping': counted("client's NAT mapping (on the round's path)", 'client-nat-mapping'),
  'client-port-mapping': counted('client port mapping (UPnP / NAT-PMP)', 'client-port-mapping'),
} satisfies Record<string, Dimension>

export type BreakdownDimension = keyof typeof DIMENSIONS
export const BREAKDOWN_DIMENSIONS = Object.keys(DIMENSIONS) as BreakdownDimension[]

export function breakdownTitle(by: BreakdownDimension): string {
  return DIMENSIONS[by].title
}

export interface BreakdownGroup {
  key: string
  /** All results of the group, whatever their outcome. */
  results: number
  success: number
  failed: number
  successRate: Proportion
}

export interface Breakdown {
  by: BreakdownDimension
  /** The largest groups by SUCCESS + FAILED, at most `limit`. */
  groups: BreakdownGroup[]
  /** Everything beyond the limit merged, or null when nothing was cut. */
  other: (BreakdownGroup & { groups: number }) | null
}

function group(key: string, results: number, success: number, failed: number): BreakdownGroup {
  return { key, results, success, failed, successRate: proportion(success, success + failed) }
}

/**
 * Success rate per group of `by`. The database returns at most `limit` groups and the totals
 * over all of them (window sums), from which the rest becomes one "other" group.
 */
export async function breakdown(
  db: Queryable,
  scope: ResultScope,
  by: BreakdownDimension,
  limit: number,
): Promise<Breakdown> {
  const { sql, q } = DIMENSIONS[by].counts(scope)
  const rows = await db.query<{
    key: string
    results: number
    success: number
    failed: number
    all_results: number
    all_success: number
    all_failed: number
    all_groups: number
  }>(
    `WITH g AS (
       SELECT key, sum(n)::int AS results,
         coalesce(sum(n) FILTER (WHERE outcome = 'SUCCESS'), 0)::int AS success,
         coalesce(sum(n) FILTER (WHERE outcome = 'FAILED'), 0)::int AS failed
       FROM (${sql}) c GROUP BY 1)
     SELECT key, results, success, failed, sum(results) OVER ()::int AS all_results,
       sum(success) OVER ()::int AS all_success, sum(failed) OVER ()::int AS all_failed,
       count(*) OVER ()::int AS all_groups
     FROM g ORDER BY success + failed DESC, results DESC, key COLLATE "C" LIMIT ${q.param(limit)}`,
    q.params,
  )
  const groups = rows.map((r) => group(r.key, r.results, r.success, r.failed))
  const first = rows[0]
  if (first === undefined || first.all_groups === rows.length) return { by, groups, other: null }
  const sum = (pick: (g: BreakdownGroup) => number) => groups.reduce((a, g) => a + pick(g), 0)
  const other = group(
    'other',
    first.all_results - sum((g) => g.results),
    first.all_success - sum((g) => g.success),
    first.all_failed - sum((g) => g.failed),
  )
  return { by, groups, other: { ...other, groups: first.all_groups - rows.length } }
}
