// Facts about successful results only: on which attempt they succeeded and over which
// transport their direct connection ended up.
import type { Queryable } from '../../db/database.js'
import { type Proportion, proportion } from '../statistics.js'
import { groupCounts } from './counts.js'
import { hourly, type ResultScope } from './scope.js'

export interface SuccessAttempts {
  successes: number
  /** Per attempt number (1-based; null: no attempt succeeded, which the outcome rules exclude). */
  attempts: { attempt: number | null; successes: number; share: Proportion }[]
  /** Successes on the first attempt among all successes (the original campaign: 97.6 %). */
  firstAttempt: Proportion
}

/** On which attempt successful results succeeded first. At most 50 rows (attempts per report). */
export async function successAttempts(db: Queryable, scope: ResultScope): Promise<SuccessAttempts> {
  const h = hourly(scope)
  const rows = await db.query<{ attempt: number | null; n: number }>(
    `SELECT nullif(key, 'none')::int AS attempt, sum(n)::int AS n FROM (${groupCounts(h, 'success-attempt')}) c
     WHERE outcome = 'SUCCESS' GROUP BY 1 ORDER BY 1 NULLS LAST`,
    h.params,
  )
  const successes = rows.reduce((a, r) => a + r.n, 0)
  return {
    successes,
    attempts: rows.map((r) => ({ attempt: r.attempt, successes: r.n, share: proportion(r.n, successes) })),
    firstAttempt: proportion(rows.find((r) => r.attempt === 1)?.n ?? 0, successes),
  }
}

export interface FinalConnections {
  successes: number
  /** Transport (`tcp`, `quic-v1`, …; `none`: closed before the end) and IP version of the direct connection. */
  connections: { transport: string; ipVersion: number | null; successes: number; share: Proportion }[]
}

/** Successes by the transport and IP version of the direct connection open at their end. */
export async function finalConnections(db: Queryable, scope: ResultScope): Promise<FinalConnections> {
  const h = hourly(scope)
  // The key is `transport/IP version` ('none/' without a direct connection).
  const rows = await db.query<{ transport: string; ip_version: number | null; n: number }>(
    `SELECT split_part(key, '/', 1) AS transport, nullif(split_part(key, '/', 2), '')::int AS ip_version,
       sum(n)::int AS n
     FROM (${groupCounts(h, 'final-connection')}) c WHERE outcome = 'SUCCESS'
     GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2`,
    h.params,
  )
  const successes = rows.reduce((a, r) => a + r.n, 0)
  return {
    successes,
    connections: rows.map((r) => ({
      transport: r.transport,
      ipVersion: r.ip_version,
      successes: r.n,
      share: proportion(r.n, successes),
    })),
  }
}
