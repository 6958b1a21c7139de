// Pure statistics behind the dashboard, the report and their tests: proportions with a Wilson
// score interval, CDFs from binned counts, time buckets. No I/O; the SQL in queries/ counts,
// these functions turn counts into what a chart shows.

/** z of a two-sided 95 % interval: the 97.5 % quantile of the standard normal distribution. */
export const Z_95 = 1.959963984540054

/** A share with its 95 % confidence interval; rate, low and high are null when there are no trials. */
export interface Proportion {
  successes: number
  trials: number
  rate: number | null
  low: number | null
  high: number | null
}

/**
 * successes / trials with the Wilson score interval (Wilson 1927). Unlike the normal
 * approximation p ± z·√(p(1-p)/n) it stays inside [0, 1] and does not collapse to a point
 * at 0 % or 100 %, which matters for the small groups (a country, an agent) charts show.
 */
export function proportion(successes: number, trials: number, z = Z_95): Proportion {
  if (!Number.isInteger(successes) || !Number.isInteger(trials) || successes < 0 || successes > trials)
    throw new RangeError(`proportion needs 0 ≤ successes ≤ trials (integers), got ${successes}/${trials}`)
  if (trials === 0) return { successes, trials, rate: null, low: null, high: null }
  const p = successes / trials
  const z2n = (z * z) / trials
  const denominator = 1 + z2n
  const centre = (p + z2n / 2) / denominator
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials))) / denominator
  // Rounding can push an end a hair past 0 or 1 when p is 0 or 1.
  return {
    successes,
    trials,
    rate: p,
    low: Math.max(0, centre - half),
    high: Math.min(1, centre + half),
  }
}

/**
 * Bin edges for RTT histograms: 0, then `perDecade` log-spaced edges per decade from `from`
 * to `to` seconds, rounded to three significant digits so that labels stay readable. Log
 * spacing because RTTs span loopback (0.1 ms) to intercontinental relays (seconds).
 */
export function logEdges(from = 0.0001, to = 1000, perDecade = 10): number[] {
  const decades = Math.round(Math.log10(to / from))
  const edges = [0]
  for (let k = 0; k <= decades * perDecade; k++)
    edges.push(Number((from * 10 ** (k / perDecade)).toPrecision(3)))
  return edges
}

/** One point of a CDF: the share `p` of values below `x`. */
export interface CdfPoint {
  x: number
  p: number
}

/**
 * The CDF at each bin edge from histogram counts numbered like SQL's
 * `width_bucket(value, edges)`: bin 0 holds values below edges[0], bin i (1 ≤ i < n) values
 * in [edges[i-1], edges[i]), bin n values ≥ edges[n-1]. The point at edges[i] is the share of
 * values below it, so it is exact at every edge. Flat runs before the first and after the
 * last non-empty bin are cut to one point each; no values gives no points.
 */
export function cdfFromHistogram(edges: readonly number[], bins: ReadonlyMap<number, number>): CdfPoint[] {
  let total = 0
  for (const [bin, count] of bins) {
    if (!Number.isInteger(bin) || bin < 0 || bin > edges.length)
      throw new RangeError(`bin ${bin} is outside 0…${edges.length}`)
    total += count
  }
  if (total === 0) return []
  const points: CdfPoint[] = []
  let below = bins.get(0) ?? 0
  for (let i = 1; i < edges.length; i++) {
    below += bins.get(i) ?? 0
    points.push({ x: edges[i]!, p: below / total })
  }
  const firstRise = points.findIndex((pt) => pt.p > 0)
  const top = points.at(-1)!.p
  const lastRise = points.findIndex((pt) => pt.p === top)
  return points.slice(Math.max(0, firstRise - 1), lastRise + 1)
}

/** Bucket widths a time series may use, in seconds: every one divides a day or is whole days. */
const BUCKET_STEPS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400]

/** The narrowest bucket width that cuts [since, until) into at most `maxBuckets` buckets. */
export function bucketSeconds(rangeSeconds: number, maxBuckets = 200): number {
  const fits = BUCKET_STEPS.find((step) => Math.ceil(rangeSeconds / step) <= maxBuckets)
  return fits ?? Math.ceil(rangeSeconds / maxBuckets / 86_400) * 86_400
}

/**
 * Start times (Unix seconds) of the buckets covering [since, until), aligned to multiples of
 * `step` since the epoch like the SQL `floor(epoch / step) * step`, so that every row lands
 * in one of them.
 */
export function bucketStarts(sinceSeconds: number, untilSeconds: number, step: number): number[] {
  const starts: number[] = []
  for (let t = Math.floor(sinceSeconds / step) * step; t < untilSeconds; t += step) starts.push(t)
  return starts
}

/**
 * Spreads rows `{ bucket, key, n }` over every bucket start, zero where nothing was counted,
 * so that a chart shows a gap as zero results instead of joining its neighbours. Rows whose
 * bucket is not among `starts` are an error: they would silently vanish from the chart.
 */
export function fillBuckets<K extends string>(
  starts: readonly number[],
  keys: readonly K[],
  rows: readonly { bucket: number; key: K; n: number }[],
): { start: number; counts: Record<K, number> }[] {
  const index = new Map(starts.map((s, i) => [s, i]))
  const filled = starts.map((start) => ({
    start,
    counts: Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>,
  }))
  for (const row of rows) {
    const i = index.get(row.bucket)
    if (i === undefined) throw new RangeError(`bucket ${row.bucket} is outside the range`)
    if (!keys.includes(row.key)) throw new RangeError(`unknown key ${row.key}`)
    filled[i]!.counts[row.key] += row.n
  }
  return filled
}
