// Writes items in batches, one transaction per batch instead of one per item, so that a burst
// of inbound connections costs the database a few transactions. Bounded: one buffer with a
// cap (beyond it the oldest items are dropped and counted) and one batch in flight. A database
// outage (DatabaseUnavailableError) is retried with backoff while new items wait in the
// buffer; any other error splits the batch to find the item that causes it, so one bad item
// cannot sink its neighbours. Nothing here throws or rejects: the node must never crash on it.
import { setTimeout as sleep } from 'node:timers/promises'
import { DatabaseUnavailableError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'

export type DropReason = 'buffer_full' | 'rejected' | 'shutdown'

export type WriterEvent =
  | { type: 'written'; count: number; seconds: number }
  | { type: 'unavailable'; failures: number; retryInMs: number }
  | { type: 'dropped'; reason: DropReason; count: number }
  | { type: 'deduplicated' }

export interface BatchWriterInit<T> {
  /** Stores one batch, all or nothing (one transaction). */
  write: (batch: T[]) => Promise<void>
  /** Items with the same key in the buffer are one item: the later replaces the earlier. */
  key: (item: T) => string
  /** A batch is written as soon as the buffer holds this many items… */
  maxBatch: number
  /** …and at the latest this long (ms) after the previous flush. */
  interval: number
  /** Items waiting at most; beyond it the oldest are dropped. */
  maxBuffer: number
  /** Backoff while the database is unavailable: first wait, cap (ms); doubles, jittered. */
  retryInitial: number
  retryMax: number
  onEvent?: (event: WriterEvent) => void
  log?: Logger
  /** @default Math.random */
  random?: () => number
}

/** How often at most a full buffer is reported in the log. */
const DROP_WARNING_INTERVAL_MS = 10_000

export class BatchWriter<T> {
  /** Insertion order is age order; a replaced item moves to the end. */
  private readonly buffer = new Map<string, T>()
  private inFlight = 0
  private flushing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  /** Cuts retry waits short: aborted by stop(); then the deadline of the last flush. */
  private readonly stopping = new AbortController()
  private cut: AbortSignal = this.stopping.signal
  private droppedSinceWarning = 0
  private lastDropWarning = 0
  private readonly init: BatchWriterInit<T>

  constructor(init: BatchWriterInit<T>) {
    this.init = init
  }

  /** Items buffered or being written. */
  get pending(): number {
    return this.buffer.size + this.inFlight
  }

  start(): void {
    this.timer ??= setInterval(() => this.flush(true), this.init.interval)
    this.timer.unref()
  }

  push(item: T): void {
    if (this.stopped) {
      this.dropped('shutdown', 1)
      return
    }
    const key = this.init.key(item)
    if (this.buffer.delete(key)) this.init.onEvent?.({ type: 'deduplicated' })
    else if (this.buffer.size >= this.init.maxBuffer) {
      this.buffer.delete(this.buffer.keys().next().value!)
      this.dropped('buffer_full', 1)
    }
    this.buffer.set(key, item)
    if (this.buffer.size >= this.init.maxBatch) this.flush(false)
  }

  /**
   * Writes what is buffered and stops taking items. A database outage may hold this up for
   * `timeoutMs` at most; what is still unwritten then is dropped (and counted).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    // A timer that holds the process open (AbortSignal.timeout's would not): the last
    // flush must not be cut short by the event loop running dry.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(), timeoutMs)
    this.cut = deadline.signal
    this.stopping.abort()
    await this.flushing
    this.flush(true)
    await this.flushing
    clearTimeout(timer)
  }

  /**
   * Writes full batches, and with `all` (the timer) also one remainder. Only full batches
   * follow one another at once: a remainder that arrived during a write waits for the timer,
   * or a steady trickle would cost one transaction per few items. After stop(), everything.
   */
  private flush(all: boolean): void {
    this.flushing ??= this.drain(all).finally(() => {
      this.flushing = undefined
    })
  }

  private async drain(all: boolean): Promise<void> {
    while (this.buffer.size >= (all ? 1 : this.init.maxBatch)) {
      const batch: T[] = []
      for (const [key, item] of this.buffer) {
        if (batch.length === this.init.maxBatch) break
        batch.push(item)
        this.buffer.delete(key)
      }
      this.inFlight = batch.length
      await this.writeBatch(batch)
      this.inFlight = 0
      all = this.stopped
    }
  }

  private async writeBatch(batch: T[]): Promise<void> {
    for (let failures = 1; ; failures++) {
      const started = performance.now()
      try {
        await this.init.write(batch)
        const seconds = (performance.now() - started) / 1000
        this.init.onEvent?.({ type: 'written', count: batch.length, seconds })
        return
      } catch (err) {
        if (!(err instanceof DatabaseUnavailableError)) return await this.rejected(batch, err)
        if (this.stopped && this.cut.aborted) {
          this.dropped('shutdown', batch.length, err)
          return
        }
        const exp = Math.min(this.init.retryMax, this.init.retryInitial * 2 ** (failures - 1))
        const retryInMs = Math.round(exp / 2 + (this.init.random ?? Math.random)() * (exp / 2))
        this.init.onEvent?.({ type: 'unavailable', failures, retryInMs })
        this.init.log?.warn(
          { err: err.message, failures, retryInMs, batch: batch.length, buffered: this.buffer.size },
          'database unavailable; retrying the batch',
        )
        await sleep(retryInMs, undefined, { signal: this.cut }).catch(() => undefined)
      }
    }
  }

  /** An error the database will give again: halve the batch until the culprit stands alone. */
  private async rejected(batch: T[], err: unknown): Promise<void> {
    if (batch.length === 1) {
      this.dropped('rejected', 1, err)
      return
    }
    const half = Math.ceil(batch.length / 2)
    await this.writeBatch(batch.slice(0, half))
    await this.writeBatch(batch.slice(half))
  }

  private dropped(reason: DropReason, count: number, err?: unknown): void {
    this.init.onEvent?.({ type: 'dropped', reason, count })
    const error = err instanceof Error ? err.message : err === undefined ? undefined : String(err)
    if (reason !== 'buffer_full') {
      this.init.log?.warn({ reason, count, err: error }, 'dropped events')
      return
    }
    this.droppedSinceWarning += count
    if (Date.now() - this.lastDropWarning < DROP_WARNING_INTERVAL_MS) return
    this.init.log?.warn(
      { dropped: this.droppedSinceWarning, maxBuffer: this.init.maxBuffer },
      'write buffer full: dropping the oldest events',
    )
    this.lastDropWarning = Date.now()
    this.droppedSinceWarning = 0
  }
}
