import type { Queryable } from '../../db/database.js'
import { type Proportion, proportion } from '../statistics.js'
import { asnText, clientGeoOver, REMOTE_PEER_JOIN, remoteGeoOver } from './joins.js'
import { type ResultScope, scoped } from './scope.js'

interface Dimension {
  /** What the groups are, for charts and the report. */
  title: string
  /** Joins after `FROM hole_punch_results r`, given the scope's condition on `r`. */
  join: (where: string) => string
  key: string
}

/**
 * The dimensions results can be grouped by. Transport and IP version come from the protocol
 * filter the server applied (SPEC §4: 15 % each of ip4+tcp, ip4+quic, ip6+tcp, ip6+quic):
 * a filtered result could only punch over that transport, so TCP and QUIC are compared on
 * equal terms. The transport of the final direct connection exists only after a success,
 * so a success rate by it would be 100 % by construction; finalConnections shows it.
 */
const DIMENSIONS = {
  transport: {
    title: 'transport (protocol filter)',
    join: () => '',
    key: `CASE WHEN 6 = ANY(r.protocols) THEN 'tcp' WHEN r.protocols && ARRAY[460, 461] THEN 'quic' ELSE 'unfiltered' END`,
  },
  'ip-version': {
    title: 'IP version (protocol filter)',
    join: () => '',
    key: `CASE WHEN 4 = ANY(r.protocols) THEN 'ip4' WHEN 41 = ANY(r.protocols) THEN 'ip6' ELSE 'unfiltered' END`,
  },
  agent: {
    title: 'remote agent version',
    join: () => REMOTE_PEER_JOIN,
    key: `coalesce(rp.agent_version, 'unknown')`,
  },
  'client-country': {
    title: 'client country',
    join: clientGeoOver,
    key: `coalesce(cg.country, 'unknown')`,
  },
  'client-asn': {
    title: 'client ASN',
    join: clientGeoOver,
    key: `coalesce(${asnText('cg.asn')}, 'unknown')`,
  },
  'remote-country': {
    title: 'remote country',
    join: remoteGeoOver,
    key: `coalesce(rg.country, 'unknown')`,
  },
  'remote-asn': {
    title: 'remote ASN',
    join: remoteGeoOver,
    key: `coalesce(${asnText('rg.asn')}, 'unknown')`,
  },
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
  const { join, key } = DIMENSIONS[by]
  const q = scoped(scope)
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
       SELECT ${key} AS key, count(*)::int AS results,
         count(*) FILTER (WHERE r.outcome = 'SUCCESS')::int AS success,
         count(*) FILTER (WHERE r.outcome = 'FAILED')::int AS failed
       FROM hole_punch_results r ${join(q.where)} WHERE ${q.where} GROUP BY 1)
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
