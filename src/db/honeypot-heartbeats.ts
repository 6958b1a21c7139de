// The honeypot_heartbeats table (migration 0010): each honeypot's own row saying that it runs
// and walks, written by the honeypot (src/honeypot/heartbeat.ts) and read by the dashboard.
import type { Queryable } from './database.js'

/**
 * How often a running honeypot writes its row at least (walks write it too). The dashboard
 * calls a honeypot silent when its row is older than HEARTBEAT_SILENT_AFTER_MS: three missed
 * beats, so that one slow write is no alarm.
 */
export const HEARTBEAT_INTERVAL_MS = 60_000
export const HEARTBEAT_SILENT_AFTER_MS = 3 * HEARTBEAT_INTERVAL_MS

export type HeartbeatWalkResult = 'ok' | 'no_peers' | 'failed'

/** What a honeypot says about its current run. */
export interface HeartbeatWrite {
  peerId: string
  startedAt: Date
  walksEnabled: boolean
  lastWalk: { at: Date; result: HeartbeatWalkResult } | undefined
  eventsRecorded: number
  /** Set by the last write of an orderly stop. */
  stoppedAt: Date | undefined
}

/** A row as read back; `beatAt` is the database's clock at the write. */
export interface HoneypotHeartbeat extends HeartbeatWrite {
  beatAt: Date
}

/** Writes (or replaces) the honeypot's row; `beat_at` is the database's now(). */
export async function writeHoneypotHeartbeat(db: Queryable, beat: HeartbeatWrite): Promise<void> {
  await db.query(
    `INSERT INTO honeypot_heartbeats (peer_id, started_at, beat_at, walks_enabled, last_walk_at, last_walk_result,
       events_recorded, stopped_at)
     VALUES ($1, $2, now(), $3, $4, $5, $6, $7)
     ON CONFLICT (peer_id) DO UPDATE SET
       started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at, walks_enabled = EXCLUDED.walks_enabled,
       last_walk_at = EXCLUDED.last_walk_at, last_walk_result = EXCLUDED.last_walk_result,
       events_recorded = EXCLUDED.events_recorded, stopped_at = EXCLUDED.stopped_at`,
    [
      beat.peerId,
      beat.startedAt.toISOString(),
      beat.walksEnabled,
      beat.lastWalk?.at.toISOString() ?? null,
      beat.lastWalk?.result ?? null,
      beat.eventsRecorded,
      beat.stoppedAt?.toISOString() ?? null,
    ],
  )
}

interface HeartbeatRow {
  peer_id: string
  started_at: Date | string
  beat_at: Date | string
  walks_enabled: boolean
  last_walk_at: Date | string | null
  last_walk_result: HeartbeatWalkResult | null
  events_recorded: string | number
  stopped_at: Date | string | null
}

/** The `limit` most recently written rows, newest first. */
export async function latestHoneypotHeartbeats(db: Queryable, limit: number): Promise<HoneypotHeartbeat[]> {
  const rows = await db.query<HeartbeatRow>(
    `SELECT peer_id, started_at, beat_at, walks_enabled, last_walk_at, last_walk_result, events_recorded, stopped_at
     FROM honeypot_heartbeats ORDER BY beat_at DESC, peer_id LIMIT $1`,
    [limit],
  )
  return rows.map((r) => ({
    peerId: r.peer_id,
    startedAt: new Date(r.started_at),
    beatAt: new Date(r.beat_at),
    walksEnabled: r.walks_enabled,
    lastWalk:
      r.last_walk_at === null || r.last_walk_result === null
        ? undefined
        : { at: new Date(r.last_walk_at), result: r.last_walk_result },
    eventsRecorded: Number(r.events_recorded),
    stoppedAt: r.stopped_at === null ? undefined : new Date(r.stopped_at),
  }))
}
