// The honeypot's row in honeypot_heartbeats (docs/HONEYPOT.md, "Heartbeat"): it tells whoever
// reads the database — the server's dashboard above all — that this honeypot runs, whether it
// walks and how its last walk went, and how many events it stored. Written at start, after
// every walk, every HEARTBEAT_INTERVAL_MS in between (a walk may take minutes, and a honeypot
// without bootstrap peers never walks) and once more at stop. One write at a time; a failed
// write is logged and the next beat tries again: the heartbeat must never stop the honeypot.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Queryable } from '../db/database.js'
import {
  HEARTBEAT_INTERVAL_MS,
  type HeartbeatWalkResult,
  type HeartbeatWrite,
  writeHoneypotHeartbeat,
} from '../db/honeypot-heartbeats.js'
import type { Logger } from '../lib/logger.js'

/** How long stop() waits for its last write. */
const STOP_WRITE_TIMEOUT_MS = 5_000

export interface HeartbeatInit {
  db: Queryable
  peerId: string
  walksEnabled: boolean
  log: Logger
}

export class Heartbeat {
  private readonly state: HeartbeatWrite
  private timer: NodeJS.Timeout | undefined
  /** The write in progress (or the last one); writes are chained, never concurrent. */
  private writing: Promise<void> = Promise.resolve()
  /** A failure was logged and no write has succeeded since: say it once, not every minute. */
  private failing = false
  private started = false

  constructor(private readonly init: HeartbeatInit) {
    this.state = {
      peerId: init.peerId,
      startedAt: new Date(),
      walksEnabled: init.walksEnabled,
      lastWalk: undefined,
      eventsRecorded: 0,
      stoppedAt: undefined,
    }
  }

  /** Writes the first beat and then one every interval. */
  start(): void {
    this.started = true
    this.state.startedAt = new Date()
    this.beat()
    this.timer = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS)
    this.timer.unref()
  }

  /** A walk ended: written at once, so that the first walk shows without waiting for the timer. */
  walked(result: HeartbeatWalkResult): void {
    this.state.lastWalk = { at: new Date(), result }
    this.beat()
  }

  /** Events the batch writer stored; counted into the next beat. */
  recorded(count: number): void {
    this.state.eventsRecorded += count
  }

  /**
   * Stops the timer and writes the last beat, marked stopped; waits for it STOP_WRITE_TIMEOUT_MS
   * at most (the database may be down). Never rejects.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    if (!this.started) return
    this.started = false
    this.state.stoppedAt = new Date()
    this.beat()
    await Promise.race([this.writing, sleep(STOP_WRITE_TIMEOUT_MS, undefined, { ref: false })])
  }

  /** The current state as a snapshot: a beat queued behind another writes what was true when it was asked for. */
  private beat(): void {
    const snapshot: HeartbeatWrite = { ...this.state }
    this.writing = this.writing.then(() => this.write(snapshot))
  }

  private async write(beat: HeartbeatWrite): Promise<void> {
    try {
      await writeHoneypotHeartbeat(this.init.db, beat)
      if (this.failing) this.init.log.info('heartbeat written again')
      this.failing = false
    } catch (err) {
      if (!this.failing)
        this.init.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'writing the heartbeat failed; the next beat tries again',
        )
      this.failing = true
    }
  }
}
