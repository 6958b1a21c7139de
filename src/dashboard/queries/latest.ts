import type { Queryable } from '../../db/database.js'
import type { HolePunchOutcomeName } from '../../db/hole-punches.js'
import { REMOTE_PEER_JOIN } from './joins.js'
import { type ResultScope, scoped } from './scope.js'

/**
 * One row of the latest-results table. Deliberately without addresses and error texts: those
 * carry the IP addresses of volunteers' hosts and home networks, and the page is public.
 */
export interface LatestResult {
  id: number
  /** When the server stored it (ISO 8601). */
  createdAt: string
  outcome: HolePunchOutcomeName
  attempts: number
  /** First attempt that succeeded, null when none did. */
  successAttempt: number | null
  /** Relayed dial start to round end, seconds. */
  durationSeconds: number
  finalTransport: string | null
  finalIpVersion: number | null
  remotePeerId: string
  remoteAgent: string | null
  clientCountry: string | null
  remoteCountry: string | null
  /** The punchr client that reported it: punchr-ts, punchr-go, punchr-rust or other. */
  clientImplementation: string
  /** Codes of that client's known quirks the server normalised before storing it; [] = as sent. */
  quirks: string[]
}

/** The newest `limit` results of a scope, newest first (index on created_at, stops after `limit`). */
export async function latestResults(
  db: Queryable,
  scope: ResultScope,
  limit: number,
): Promise<LatestResult[]> {
  const q = scoped(scope)
  const rows = await db.query<{
    id: number
    created_at: Date
    outcome: HolePunchOutcomeName
    attempts: number
    success_attempt: number | null
    duration: number
    final_transport: string | null
    final_ip_version: number | null
    remote_peer_id: string
    remote_agent: string | null
    client_country: string | null
    remote_country: string | null
    client_implementation: string
    quirks: string[]
  }>(
    `SELECT r.id::int AS id, r.created_at, r.outcome::text AS outcome, r.attempt_count::int AS attempts,
       r.success_attempt::int AS success_attempt, extract(epoch FROM r.ended_at - r.connect_started_at)::float8 AS duration,
       r.final_transport, r.final_ip_version::int AS final_ip_version, rp.multi_hash AS remote_peer_id,
       rp.agent_version AS remote_agent, r.client_country::text AS client_country, r.remote_country::text AS remote_country,
       r.client_implementation, r.quirks
     FROM hole_punch_results r ${REMOTE_PEER_JOIN}
     WHERE ${q.where} ORDER BY r.created_at DESC, r.id DESC LIMIT ${q.param(limit)}`,
    q.params,
  )
  return rows.map((r) => ({
    id: r.id,
    createdAt: new Date(r.created_at).toISOString(),
    outcome: r.outcome,
    attempts: r.attempts,
    successAttempt: r.success_attempt,
    durationSeconds: r.duration,
    finalTransport: r.final_transport,
    finalIpVersion: r.final_ip_version,
    remotePeerId: r.remote_peer_id,
    remoteAgent: r.remote_agent,
    clientCountry: r.client_country,
    remoteCountry: r.remote_country,
    clientImplementation: r.client_implementation,
    quirks: r.quirks,
  }))
}
