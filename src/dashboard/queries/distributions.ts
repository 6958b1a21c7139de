// RTT distributions as CDFs: the start RTT of successful vs failed attempts, and relayed vs
// direct latency. Values are binned on fixed log-spaced edges (rtt_bin() in SQL, logEdges()
// here), so the answer has a fixed size whatever the number of rows; medians are exact.
import type { Queryable } from '../../db/database.js'
import { RTT_SERIES, type RttKind } from '../../db/hole-punches.js'
import { type CdfPoint, cdfFromHistogram, logEdges } from '../statistics.js'
import { hourly, type ResultScope, scoped } from './scope.js'

export interface Distribution {
  name: string
  /** Values counted. */
  count: number
  /** Median in seconds, null without values. */
  median: number | null
  /** Share of values below x seconds, at the bin edges. */
  cdf: CdfPoint[]
}

const EDGES = logEdges()

/**
 * The series of `kind` over a scope. The histogram sums the hourly bins insertHolePunchReports
 * keeps (rtt_histograms) and bins the raw values of the partial hours. Everyone's median then
 * comes from the one or two bins the middle values lie in (medianFromBins); one key's values,
 * fewer and not in the hourly bins, are sorted whole (percentile_cont).
 */
async function distributions(
  db: Queryable,
  scope: ResultScope,
  kind: RttKind,
  names: readonly string[],
): Promise<Distribution[]> {
  const s = RTT_SERIES[kind]
  const h = hourly(scope)
  const bins = await db.query<{ name: string; bin: number; n: number }>(
    `SELECT name, bin, sum(n)::int AS n FROM (
       SELECT name, bin, n FROM rtt_histograms WHERE kind = ${h.param(kind)} AND ${h.hours}
       UNION ALL
       SELECT ${s.group}::text, rtt_bin(${s.value}), 1
       FROM hole_punch_results r JOIN ${s.table} ON ${s.alias}.hole_punch_result_id = r.id WHERE ${h.raw} AND ${s.where}
     ) c GROUP BY 1, 2`,
    h.params,
  )
  const histograms = new Map(
    names.map((name) => [name, new Map(bins.filter((b) => b.name === name).map((b) => [b.bin, b.n]))]),
  )
  const medians = new Map<string, number>()
  if (scope.authorizationId === undefined) {
    const found = await Promise.all(
      names.map(
        async (name) => [name, await medianFromBins(db, scope, kind, name, histograms.get(name)!)] as const,
      ),
    )
    for (const [name, median] of found) if (median !== null) medians.set(name, median)
  } else {
    const q = scoped(scope)
    const rows = await db.query<{ name: string; median: number }>(
      `SELECT ${s.group}::text AS name, percentile_cont(0.5) WITHIN GROUP (ORDER BY ${s.value}) AS median
       FROM hole_punch_results r JOIN ${s.table} ON ${s.alias}.hole_punch_result_id = r.id
       WHERE ${q.where} AND ${s.where} GROUP BY 1`,
      q.params,
    )
    for (const r of rows) medians.set(r.name, r.median)
  }
  return names.map((name) => {
    const histogram = histograms.get(name)!
    const count = [...histogram.values()].reduce((a, n) => a + n, 0)
    return { name, count, median: medians.get(name) ?? null, cdf: cdfFromHistogram(EDGES, histogram) }
  })
}

/**
 * The median as percentile_cont(0.5) computes it, from the values of the range in the bins of
 * the two middle ranks only (the histogram says which bins and how many values lie below
 * them): the index on (series, bin, time) finds exactly those values, so this reads a bin's
 * share of the range instead of sorting all of it.
 */
async function medianFromBins(
  db: Queryable,
  scope: ResultScope,
  kind: RttKind,
  name: string,
  histogram: ReadonlyMap<number, number>,
): Promise<number | null> {
  const count = [...histogram.values()].reduce((a, n) => a + n, 0)
  if (count === 0) return null
  // 0-based ranks of the middle values: one for an odd count, two for an even one.
  const lower = Math.floor((count - 1) / 2)
  const upper = Math.ceil((count - 1) / 2)
  let below = 0
  let first: { bin: number; below: number } | undefined
  let last = 0
  for (const [bin, n] of [...histogram].sort(([a], [b]) => a - b)) {
    if (first === undefined && lower < below + n) first = { bin, below }
    if (upper < below + n) {
      last = bin
      break
    }
    below += n
  }
  const s = RTT_SERIES[kind]
  const q = scoped(scope)
  const rows = await db.query<{ v: number }>(
    `SELECT ${s.value} AS v FROM ${s.table}
     WHERE ${s.group} = ${q.param(name)}::${s.groupType} AND ${s.where}
       AND rtt_bin(${s.value}) IN (${q.param(first!.bin)}::int, ${q.param(last)}::int)
       AND ${s.alias}.result_created_at >= $1::timestamptz AND ${s.alias}.result_created_at < $2::timestamptz
     ORDER BY 1 OFFSET ${q.param(lower - first!.below)} LIMIT ${q.param(upper - lower + 1)}`,
    q.params,
  )
  const [lo, hi] = rows.map((r) => r.v)
  if (lo === undefined) throw new Error(`the ${kind} ${name} values of the range do not match its histogram`)
  // percentile_cont interpolates as lo + fraction * (hi - lo); for the median the fraction is ½.
  return hi === undefined ? lo : lo + 0.5 * (hi - lo)
}

/** RTT measured by CONNECT/SYNC (start_rtt) of SUCCESS and of FAILED attempts. */
export function startRttDistributions(db: Queryable, scope: ResultScope): Promise<Distribution[]> {
  return distributions(db, scope, 'start-rtt', ['SUCCESS', 'FAILED'])
}

/**
 * Mean ping RTT per measurement (successful pings only, docs/PROTOCOL.md, "Storage"): to the
 * relay, to the remote through the relay, and to the remote directly after a successful hole
 * punch.
 */
export function latencyDistributions(db: Queryable, scope: ResultScope): Promise<Distribution[]> {
  return distributions(db, scope, 'latency', [
    'TO_RELAY',
    'TO_REMOTE_THROUGH_RELAY',
    'TO_REMOTE_AFTER_HOLE_PUNCH',
  ])
}
