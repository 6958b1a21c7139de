// The database's side of a campaign's state (docs/DASHBOARD.md, "A new campaign"): whether a
// key exists, whether results do, what the honeypots recorded and say of themselves, and the
// remotes the server could hand out. Campaign-wide: an API key narrows none of it.
import { countReadyRemotes } from '../../db/allocation.js'
import type { Queryable } from '../../db/database.js'
import { type HoneypotHeartbeat, latestHoneypotHeartbeats } from '../../db/honeypot-heartbeats.js'

/**
 * Distinct peers are counted up to this many: beyond it the count would read the whole of
 * connection_events on every page load, and "more than 10 000" is all an operator needs.
 */
export const PEER_COUNT_CAP = 10_000
/** Honeypots listed at most, most recent heartbeat first. */
export const HONEYPOTS_LISTED = 5

export interface CampaignFacts {
  /** The database's clock, which heartbeat times are compared with. */
  dbNow: Date
  /** A key that is not revoked exists. */
  keyIssued: boolean
  /** At least one result is stored. */
  resultsStored: boolean
  /** Distinct peers honeypots recorded (connection events), at most PEER_COUNT_CAP… */
  peersRecorded: number
  /** …and whether there were more. */
  peersCapped: boolean
  /** Distinct peers whose recorded connection opened in the last hour. */
  peersLastHour: number
  /** When the newest connection event was stored; undefined: none. */
  lastRecordedAt: Date | undefined
  /** Remotes GetAddrInfo could hand a new client now (countReadyRemotes). */
  remotesReady: number
  heartbeats: HoneypotHeartbeat[]
}

export async function campaignFacts(db: Queryable, privateRelayHops: boolean): Promise<CampaignFacts> {
  const [[flags], [peers], [lastEvent], remotesReady, heartbeats] = await Promise.all([
    db.query<{ now: Date | string; key_issued: boolean; results_stored: boolean }>(
      `SELECT now() AS now,
         EXISTS (SELECT 1 FROM authorizations WHERE revoked_at IS NULL) AS key_issued,
         EXISTS (SELECT 1 FROM hole_punch_results) AS results_stored`,
    ),
    // The capped count walks connection_events_remote_opened_idx in remote order and stops
    // after the cap; the last hour is a range of connection_events_opened_idx.
    db.query<{ total: number; last_hour: number }>(
      `SELECT
         (SELECT count(*)::int FROM (SELECT remote_id FROM connection_events
            GROUP BY remote_id ORDER BY remote_id LIMIT $1) AS capped) AS total,
         (SELECT count(DISTINCT remote_id)::int FROM connection_events
            WHERE opened_at >= now() - interval '1 hour') AS last_hour`,
      [PEER_COUNT_CAP + 1],
    ),
    // The highest id is the newest row (ids come from one sequence): the primary key answers.
    db.query<{ created_at: Date | string }>(
      'SELECT created_at FROM connection_events ORDER BY id DESC LIMIT 1',
    ),
    countReadyRemotes(db, privateRelayHops),
    latestHoneypotHeartbeats(db, HONEYPOTS_LISTED),
  ])
  return {
    dbNow: new Date(flags!.now),
    keyIssued: flags!.key_issued,
    resultsStored: flags!.results_stored,
    peersRecorded: Math.min(peers!.total, PEER_COUNT_CAP),
    peersCapped: peers!.total > PEER_COUNT_CAP,
    peersLastHour: peers!.last_hour,
    lastRecordedAt: lastEvent === undefined ? undefined : new Date(lastEvent.created_at),
    remotesReady,
    heartbeats,
  }
}
