import { countCandidates } from '../../db/connection-events.js'
import type { Queryable } from '../../db/database.js'
import { bucketStarts, fillBuckets } from '../statistics.js'
import { scoped } from './scope.js'

/**
 * What "live" means: the last 10 minutes (the allocation's eligibility window, docs/PROTOCOL.md,
 * "Allocation").
 */
const LIVE_MS = 10 * 60_000
/** The results-per-minute sparkline covers the last hour. */
const SPARKLINE_MS = 60 * 60_000

export interface Health {
  now: string
  /** Results stored per minute over the last hour, oldest first. */
  resultsPerMinute: { start: string; results: number }[]
  resultsLast10Minutes: number
  /** Client hosts, and distinct API keys behind them, that reported in the last 10 minutes. */
  activeHosts: number
  activeKeys: number
  /** Distinct peers whose connection to a honeypot opened in the last 10 minutes. */
  honeypotPeers: number
  /** Remotes the server can hand out now. */
  candidates: number
}

/**
 * Live numbers, always relative to `now` (the page's time range does not apply). With an
 * authorization only its results and hosts count; the honeypot numbers are everyone's.
 */
export async function health(db: Queryable, now: Date, authorizationId?: number): Promise<Health> {
  const liveSince = new Date(now.getTime() - LIVE_MS)
  const hour = scoped({ since: new Date(now.getTime() - SPARKLINE_MS), until: now, authorizationId })
  const live = scoped({ since: liveSince, until: now, authorizationId })
  const [perMinute, [active], [honeypot], candidates] = await Promise.all([
    db.query<{ bucket: number; key: 'results'; n: number }>(
      `SELECT (floor(extract(epoch FROM r.created_at) / 60) * 60)::float8 AS bucket, 'results' AS key, count(*)::int AS n
       FROM hole_punch_results r WHERE ${hour.where} GROUP BY 1`,
      hour.params,
    ),
    db.query<{ results: number; hosts: number; keys: number }>(
      `SELECT count(*)::int AS results, count(DISTINCT r.client_id)::int AS hosts,
         count(DISTINCT c.authorization_id)::int AS keys
       FROM hole_punch_results r JOIN clients c ON c.id = r.client_id
       WHERE ${live.where}`,
      live.params,
    ),
    db.query<{ peers: number }>(
      `SELECT count(DISTINCT remote_id)::int AS peers FROM connection_events
       WHERE opened_at >= $1::timestamptz AND opened_at < $2::timestamptz`,
      [liveSince.toISOString(), now.toISOString()],
    ),
    countCandidates(db),
  ])
  const starts = bucketStarts((now.getTime() - SPARKLINE_MS) / 1000, now.getTime() / 1000, 60)
  return {
    now: now.toISOString(),
    resultsPerMinute: fillBuckets(starts, ['results'], perMinute).map((b) => ({
      start: new Date(b.start * 1000).toISOString(),
      results: b.counts.results,
    })),
    resultsLast10Minutes: active?.results ?? 0,
    activeHosts: active?.hosts ?? 0,
    activeKeys: active?.keys ?? 0,
    honeypotPeers: honeypot?.peers ?? 0,
    candidates,
  }
}
