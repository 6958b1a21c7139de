// RTT distributions as CDFs: the start RTT of successful vs failed attempts, and relayed vs
// direct latency. The database bins the values (fixed log-spaced edges, so the answer has a
// fixed size whatever the number of rows) and computes exact medians.
import type { Queryable } from '../../db/database.js'
import { type CdfPoint, cdfFromHistogram, logEdges } from '../statistics.js'
import { type ResultScope, scoped } from './scope.js'

export interface Distribution {
  name: string
  /** Values counted. */
  count: number
  /** Median in seconds, null without values. */
  median: number | null
  /** Share of values below x seconds, at the bin edges. */
  cdf: CdfPoint[]
}

interface Source {
  /** Joins after `FROM hole_punch_results r`. */
  join: string
  /** Extra condition on the joined rows. */
  where: string
  /** The value (seconds) and the group it belongs to. */
  value: string
  group: string
  /** The groups, in the order the answer lists them (absent ones come back empty). */
  groups: readonly string[]
}

const EDGES = logEdges()

async function distributions(db: Queryable, scope: ResultScope, source: Source): Promise<Distribution[]> {
  const q = scoped(scope)
  const from = `FROM hole_punch_results r ${source.join} WHERE ${q.where} AND ${source.where}`
  const scopeParams = [...q.params]
  const edges = q.param(EDGES)
  const [bins, medians] = await Promise.all([
    db.query<{ name: string; bin: number; n: number }>(
      `SELECT ${source.group} AS name, width_bucket(${source.value}, ${edges}::float8[]) AS bin, count(*)::int AS n
       ${from} GROUP BY 1, 2`,
      q.params,
    ),
    db.query<{ name: string; n: number; median: number }>(
      `SELECT ${source.group} AS name, count(*)::int AS n,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ${source.value}) AS median
       ${from} GROUP BY 1`,
      scopeParams,
    ),
  ])
  return source.groups.map((name) => {
    const histogram = new Map(bins.filter((b) => b.name === name).map((b) => [b.bin, b.n]))
    const m = medians.find((r) => r.name === name)
    return { name, count: m?.n ?? 0, median: m?.median ?? null, cdf: cdfFromHistogram(EDGES, histogram) }
  })
}

/** RTT measured by CONNECT/SYNC (start_rtt) of SUCCESS and of FAILED attempts. */
export function startRttDistributions(db: Queryable, scope: ResultScope): Promise<Distribution[]> {
  return distributions(db, scope, {
    join: 'JOIN hole_punch_attempts a ON a.hole_punch_result_id = r.id',
    where: `a.start_rtt IS NOT NULL AND a.outcome IN ('SUCCESS', 'FAILED')`,
    value: 'a.start_rtt',
    group: 'a.outcome::text',
    groups: ['SUCCESS', 'FAILED'],
  })
}

/**
 * Mean ping RTT per measurement (successful pings only, SPEC §6): to the relay, to the
 * remote through the relay, and to the remote directly after a successful hole punch.
 */
export function latencyDistributions(db: Queryable, scope: ResultScope): Promise<Distribution[]> {
  return distributions(db, scope, {
    join: 'JOIN latency_measurements l ON l.hole_punch_result_id = r.id',
    where: 'l.rtt_avg IS NOT NULL',
    value: 'l.rtt_avg',
    group: 'l.mtype::text',
    groups: ['TO_RELAY', 'TO_REMOTE_THROUGH_RELAY', 'TO_REMOTE_AFTER_HOLE_PUNCH'],
  })
}
