// Group commit: items that arrive together are written together, and each caller is answered
// only after the write of its batch returned (committed). Unlike the honeypot's BatchWriter
// (fire and forget), every item has a caller waiting for its own result or error, so nothing
// is dropped, retried behind the caller's back or answered early.
import { DatabaseUnavailableError } from '../lib/errors.js'

export interface GroupCommitOptions {
  /** A batch holds at most this many items (1 = every item written alone). */
  maxItems: number
  /** …and at most this many bytes, unless a single item is larger. */
  maxBytes: number
  /**
   * How long (ms) a batch stays open for more items after its first one. 0: a batch is written
   * as soon as a write slot is free, and is whatever arrived while all slots were busy.
   */
  windowMs: number
  /** Batches written at the same time. */
  concurrency: number
}

/** What a written batch tells the metrics. */
export interface BatchWritten {
  items: number
  seconds: number
  /** The batch failed as a whole and its items were written one by one. */
  split: boolean
}

interface Waiting<I, R> {
  item: I
  resolve: (result: R) => void
  reject: (err: unknown) => void
}

interface Batch<I, R> {
  items: Waiting<I, R>[]
  bytes: number
  /** Full, or its window has passed: written as soon as a slot is free (items may still join until then). */
  ready: boolean
  timer?: NodeJS.Timeout
}

export class GroupCommit<I, R> {
  /** Oldest first; only the last one takes new items. */
  private readonly batches: Batch<I, R>[] = []
  /** Batches being written, and the items in them. */
  private writing = 0
  private writingItems = 0
  private readonly settled = new Set<() => void>()

  /**
   * `write` stores a batch all or nothing and returns one result per item, in order. When it
   * throws for a batch of several, the halves are written again (writeOrSplit), so one bad
   * item fails only its own caller; a database that is unavailable fails them all at once
   * (smaller batches would fail too, only slower).
   */
  constructor(
    private readonly write: (items: readonly I[]) => Promise<R[]>,
    private readonly options: GroupCommitOptions,
    private readonly onWritten: (batch: BatchWritten) => void = () => undefined,
  ) {
    if (options.maxItems < 1 || options.concurrency < 1)
      throw new RangeError('group commit needs maxItems ≥ 1 and concurrency ≥ 1')
  }

  /** Items waiting for a write slot or being written. */
  get pending(): number {
    return this.batches.reduce((n, b) => n + b.items.length, 0) + this.writingItems
  }

  /** Resolves with the item's result once its batch is written, or rejects with its error. */
  add(item: I, bytes: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const batch = this.batchWithRoomFor(bytes)
      batch.items.push({ item, resolve, reject })
      batch.bytes += bytes
      if (batch.items.length >= this.options.maxItems || batch.bytes >= this.options.maxBytes)
        batch.ready = true
      this.pump()
    })
  }

  /** Writes what waits without waiting for windows, and resolves when nothing is pending. */
  async flush(): Promise<void> {
    for (const batch of this.batches) batch.ready = true
    this.pump()
    while (this.batches.length > 0 || this.writing > 0) {
      await new Promise<void>((resolve) => this.settled.add(resolve))
    }
  }

  /**
   * The newest batch not yet being written, while it has room; else a new one. A batch that
   * waits for a write slot keeps filling up to its bounds, so under load batches grow by
   * themselves.
   */
  private batchWithRoomFor(bytes: number): Batch<I, R> {
    const last = this.batches.at(-1)
    if (last !== undefined) {
      if (last.items.length < this.options.maxItems && last.bytes + bytes <= this.options.maxBytes)
        return last
      // Full for this item: it goes as soon as a slot is free, not after its window.
      last.ready = true
    }
    const batch: Batch<I, R> = { items: [], bytes: 0, ready: false }
    if (this.options.windowMs > 0) {
      batch.timer = setTimeout(() => {
        batch.ready = true
        this.pump()
      }, this.options.windowMs)
    }
    this.batches.push(batch)
    return batch
  }

  /** Starts writing the oldest batches that are ready while write slots are free. */
  private pump(): void {
    while (this.writing < this.options.concurrency) {
      const next = this.batches[0]
      if (next === undefined || !(next.ready || this.options.windowMs === 0)) return
      clearTimeout(next.timer)
      this.batches.shift()
      this.writing++
      this.writingItems += next.items.length
      void this.commit(next.items).finally(() => {
        this.writing--
        this.writingItems -= next.items.length
        this.pump()
        for (const resolve of this.settled) resolve()
        this.settled.clear()
      })
    }
  }

  private async commit(waiting: readonly Waiting<I, R>[]): Promise<void> {
    const started = performance.now()
    const split = await this.writeOrSplit(waiting)
    this.onWritten({ items: waiting.length, seconds: (performance.now() - started) / 1000, split })
  }

  /**
   * Writes `waiting` as one batch; when that fails, each half again, down to single items, so
   * one bad item costs about 2·log2(n) writes and fails only its own caller. Returns whether
   * the batch was split.
   */
  private async writeOrSplit(waiting: readonly Waiting<I, R>[]): Promise<boolean> {
    try {
      const results = await this.write(waiting.map((w) => w.item))
      for (const [i, w] of waiting.entries()) w.resolve(results[i]!)
      return false
    } catch (err) {
      if (waiting.length === 1 || err instanceof DatabaseUnavailableError) {
        for (const w of waiting) w.reject(err)
        return false
      }
      const half = Math.ceil(waiting.length / 2)
      await this.writeOrSplit(waiting.slice(0, half))
      await this.writeOrSplit(waiting.slice(half))
      return true
    }
  }
}
