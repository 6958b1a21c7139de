// The JSON endpoints behind the page's charts (documented in docs/DASHBOARD.md). Each one
// aggregates in SQL over its scope and answers a bounded amount of data: at most 200 time
// buckets, 100 groups, fixed CDF bins, 200 table rows.
import type { Queryable } from '../db/database.js'
import type { Viewer } from './access.js'
import { campaignStatus } from './campaign-status.js'
import { HttpError } from './http-error.js'
import type { QueryParams } from './params.js'
import { BREAKDOWN_DIMENSIONS, breakdown } from './queries/breakdowns.js'
import { latencyDistributions, startRttDistributions } from './queries/distributions.js'
import { health } from './queries/health.js'
import { latestResults } from './queries/latest.js'
import { outcomeSeries, outcomeTotals } from './queries/outcomes.js'
import type { ResultScope } from './queries/scope.js'
import { finalConnections, successAttempts } from './queries/successes.js'
import type { ServerFacts } from './server-facts.js'

export interface EndpointContext {
  db: Queryable
  params: QueryParams
  viewer: Viewer
  now: Date
  /** The server this dashboard runs in; undefined outside one (the benchmark). */
  server: ServerFacts | undefined
  /** The request's Host header, as the browser sent it. */
  host: string | undefined
}

interface Endpoint {
  /** Query parameters it accepts. */
  params: readonly string[]
  run(ctx: EndpointContext): Promise<object>
}

const RANGE = ['since', 'until'] as const

/** An endpoint over a time range: its answer starts with the range it covered. */
function ranged(
  extra: readonly string[],
  run: (ctx: EndpointContext, scope: ResultScope) => Promise<object>,
): Endpoint {
  return {
    params: [...RANGE, ...extra],
    run: async (ctx) => {
      const range = ctx.params.range(ctx.now)
      const scope = { ...range, authorizationId: ctx.viewer.authorizationId }
      return {
        range: { since: range.since.toISOString(), until: range.until.toISOString() },
        ...(await run(ctx, scope)),
      }
    },
  }
}

export const ENDPOINTS: Record<string, Endpoint> = {
  '/api/summary': ranged([], async ({ db }, scope) => {
    const [totals, attempts] = await Promise.all([outcomeTotals(db, scope), successAttempts(db, scope)])
    return { ...totals, firstAttempt: attempts.firstAttempt }
  }),
  '/api/timeseries': ranged([], ({ db }, scope) => outcomeSeries(db, scope)),
  '/api/breakdown': ranged(['by', 'limit'], ({ db, params }, scope) =>
    breakdown(db, scope, params.choice('by', BREAKDOWN_DIMENSIONS), params.limit(15, 100)),
  ),
  '/api/final-connections': ranged([], ({ db }, scope) => finalConnections(db, scope)),
  '/api/success-attempts': ranged([], ({ db }, scope) => successAttempts(db, scope)),
  '/api/start-rtt': ranged([], async ({ db }, scope) => ({ series: await startRttDistributions(db, scope) })),
  '/api/latency': ranged([], async ({ db }, scope) => ({ series: await latencyDistributions(db, scope) })),
  '/api/latest': ranged(['limit'], async ({ db, params }, scope) => ({
    results: await latestResults(db, scope, params.limit(25, 200)),
  })),
  '/api/health': { params: [], run: ({ db, viewer, now }) => health(db, now, viewer.authorizationId) },
  // Campaign-wide whoever asks (a key is checked, as everywhere, but narrows nothing).
  '/api/campaign-status': {
    params: [],
    run: ({ db, server, host, now }) => campaignStatus(db, server, host, now),
  },
  '/api/me': {
    params: [],
    run: async ({ viewer }) => {
      if (viewer.authorizationId === undefined)
        throw new HttpError(401, 'send your API key as "Authorization: Bearer <key>"', {
          'www-authenticate': 'Bearer',
        })
      return { username: viewer.username, keyPrefix: viewer.keyPrefix }
    },
  },
}
