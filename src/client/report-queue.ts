// The on-disk report queue: a finished round is on disk before anything is sent, and leaves
// the disk only once the server has accepted it (or refused it for good, then it is set aside
// in rejected/ with the reason). So neither a server outage, nor a crash, nor a power cut
// loses a result; the next start sends what is left.
//
// A report the server answers with an error of unknown kind (say INTERNAL for something in
// that report) waits on its own backoff while the reports behind it go out; a transient error
// (the server is down) holds the whole queue, since every report would meet it.
//
// One file per report, holding the binary TrackHolePunchRequest exactly as built: resends
// carry identical bytes, and the server's content hash stores a report once however often it
// arrives (ADR 0003). Names sort in arrival order, so reports go out oldest first.
//
//   <dir>/1718000000000-000001-9f2c4e1a.report       queued
//   <dir>/.1718000000000-000001-9f2c4e1a.report.….tmp being written (deleted on start)
//   <dir>/rejected/<name>.report + <name>.report.reason.json
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../lib/logger.js'
import { type ApiErrorKind, type ClassifiedError, classifyApiError } from './api-errors.js'
import { isTempName, syncDir, writeFileAtomic } from './atomic-file.js'
import { type BackoffOptions, backoffDelay, CuttableWait, sleep as realSleep, type Sleep } from './backoff.js'
import {
  QUEUE_MAX_BYTES,
  QUEUE_MAX_REPORTS,
  QUEUE_MAX_UNKNOWN_ATTEMPTS,
  QUEUE_RETRY_INITIAL_MS,
  QUEUE_RETRY_MAX_MS,
} from './constants.js'

const REPORT_SUFFIX = '.report'
const REJECTED_DIR = 'rejected'
const REASON_SUFFIX = '.reason.json'

export interface QueueDepth {
  reports: number
  bytes: number
}

export type QueueEvent =
  | { type: 'recovered'; depth: QueueDepth; removedTempFiles: number }
  | { type: 'queued'; id: string; bytes: number; depth: QueueDepth }
  | { type: 'full'; depth: QueueDepth; reason: string }
  | { type: 'sent'; id: string; attempts: number; depth: QueueDepth }
  | { type: 'retry'; id: string; attempts: number; delayMs: number; error: ClassifiedError }
  | { type: 'rejected'; id: string; attempts: number; error: ClassifiedError; depth: QueueDepth }

export interface ReportQueueOptions {
  dir: string
  /** Delivers one report; resolves when the server accepted it, rejects with why not. */
  send: (report: Uint8Array, signal: AbortSignal) => Promise<void>
  /** @default classifyApiError */
  classify?: (err: unknown) => ClassifiedError
  /** @default 10_000 */
  maxReports?: number
  /** @default 100 MiB */
  maxBytes?: number
  /** Resend backoff. @default 1 s doubling to 5 min, jittered */
  backoff?: Partial<BackoffOptions>
  /** Tries of a report whose errors are neither transient nor permanent. @default 10 */
  maxUnknownAttempts?: number
  /** Injected in tests. */
  sleep?: Sleep
  random?: () => number
  now?: () => Date
  onEvent?: (event: QueueEvent) => void
  log?: Logger
}

/** The disk under the queue is full: nothing was written, nothing queued before was touched. */
export class QueueDiskFullError extends Error {
  override readonly name = 'QueueDiskFullError'
}

/** enqueue() was called while the queue was full; wait with waitForSpace(). */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError'
}

interface Entry {
  name: string
  bytes: number
  attempts: number
  unknownAttempts: number
  /** Not before this time (ms since the epoch, the queue's clock): its own backoff after an unknown error. */
  retryAt: number
}

/** What rejected/<name>.reason.json holds. */
export interface RejectionReason {
  kind: ApiErrorKind
  code: string
  message: string
  attempts: number
  rejectedAt: string
}

export class ReportQueue {
  private readonly entries: Entry[] = []
  private totalBytes = 0
  private seq = 0
  private failures = 0
  private readonly maxReports: number
  private readonly maxBytes: number
  private readonly backoff: BackoffOptions
  private readonly maxUnknownAttempts: number
  private readonly classify: (err: unknown) => ClassifiedError
  private readonly sleep: Sleep
  private readonly random: () => number
  private readonly now: () => Date
  private sender: { controller: AbortController; done: Promise<void> } | undefined
  /** Woken when a report is added or removed. */
  private waiters = new Set<() => void>()
  /** The whole queue's wait after a transient failure, which retryNow ends. */
  private readonly transientWait: CuttableWait

  private constructor(private readonly options: ReportQueueOptions) {
    this.maxReports = options.maxReports ?? QUEUE_MAX_REPORTS
    this.maxBytes = options.maxBytes ?? QUEUE_MAX_BYTES
    this.backoff = { initial: QUEUE_RETRY_INITIAL_MS, max: QUEUE_RETRY_MAX_MS, ...options.backoff }
    this.maxUnknownAttempts = options.maxUnknownAttempts ?? QUEUE_MAX_UNKNOWN_ATTEMPTS
    this.classify = options.classify ?? classifyApiError
    this.sleep = options.sleep ?? realSleep
    this.transientWait = new CuttableWait(this.sleep)
    this.random = options.random ?? Math.random
    this.now = options.now ?? (() => new Date())
  }

  /** Opens (creating) the queue folder and picks up what an earlier run left in it. */
  static async open(options: ReportQueueOptions): Promise<ReportQueue> {
    const queue = new ReportQueue(options)
    await queue.recover()
    return queue
  }

  get dir(): string {
    return this.options.dir
  }

  get depth(): QueueDepth {
    return { reports: this.entries.length, bytes: this.totalBytes }
  }

  /** Why the queue takes no more reports right now, or undefined when it does. */
  fullReason(): string | undefined {
    if (this.entries.length >= this.maxReports)
      return `${this.entries.length} reports queued (limit ${this.maxReports})`
    if (this.totalBytes >= this.maxBytes) return `${this.totalBytes} bytes queued (limit ${this.maxBytes})`
    return undefined
  }

  isFull(): boolean {
    return this.fullReason() !== undefined
  }

  /** Names of the queued reports, oldest first. */
  queued(): string[] {
    return this.entries.map((e) => e.name)
  }

  /**
   * Stores a report durably and hands it to the sender. Resolves once it is on disk. Throws
   * QueueFullError when the queue is full (the caller waits with waitForSpace and tries again:
   * nothing is ever dropped here).
   */
  async enqueue(report: Uint8Array): Promise<string> {
    const full = this.fullReason()
    if (full !== undefined) throw new QueueFullError(`report queue ${this.dir} is full: ${full}`)
    const name = this.nextName()
    try {
      await writeFileAtomic(join(this.dir, name), report)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new QueueDiskFullError(
          `report queue ${this.dir}: no space left on the disk (${code}); free some space there — ` +
            'the report is kept in memory and written again, and every report queued before is intact',
          { cause: err },
        )
      }
      throw err
    }
    this.entries.push({ name, bytes: report.byteLength, attempts: 0, unknownAttempts: 0, retryAt: 0 })
    this.totalBytes += report.byteLength
    this.emit({ type: 'queued', id: name, bytes: report.byteLength, depth: this.depth })
    const nowFull = this.fullReason()
    if (nowFull !== undefined) {
      this.options.log?.warn({ dir: this.dir, ...this.depth }, `report queue full: ${nowFull}`)
      this.emit({ type: 'full', depth: this.depth, reason: nowFull })
    }
    this.wake()
    return name
  }

  /** Starts the background sender (idempotent). */
  start(): void {
    if (this.sender !== undefined) return
    const controller = new AbortController()
    const done = this.run(controller.signal).catch((err: unknown) => {
      this.options.log?.error({ err }, 'report sender stopped unexpectedly')
    })
    this.sender = { controller, done }
  }

  /** Stops the sender; a send in flight is aborted and its report stays queued. */
  async stop(): Promise<void> {
    const sender = this.sender
    if (sender === undefined) return
    this.sender = undefined
    sender.controller.abort()
    this.wake()
    await sender.done
  }

  /** Resolves once the queue is not full (or the signal aborts). */
  async waitForSpace(signal?: AbortSignal): Promise<void> {
    while (this.isFull() && signal?.aborted !== true) await this.change(signal)
  }

  /**
   * The server was just heard from (another call succeeded): the sender stops waiting out its
   * backoff after a transient failure and tries again now. After an outage the backoff may
   * have grown to minutes while the server has long been back; a report per round would pile
   * up meanwhile. Waits after an unknown error (one report's own) are left alone.
   */
  retryNow(): void {
    this.transientWait.cut()
  }

  /**
   * Waits until every report was sent or set aside; false when `timeoutMs` passed first. A
   * sender waiting out a backoff tries again at once: the wait could outlast `timeoutMs`.
   */
  async drain(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    this.retryNow()
    const deadline = AbortSignal.timeout(timeoutMs)
    const stop = signal === undefined ? deadline : AbortSignal.any([deadline, signal])
    while (this.entries.length > 0 && !stop.aborted) await this.change(stop)
    return this.entries.length === 0
  }

  // ── sender ────────────────────────────────────────────────────────────────────────────────

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.step(signal)
      } catch (err) {
        // The disk, not the server (e.g. ENOSPC while setting a report aside): keep going.
        this.failures++
        const delayMs = backoffDelay(this.failures, this.backoff, this.random)
        this.options.log?.error({ err, delayMs }, 'report queue I/O failed; retrying')
        await this.sleep(delayMs, signal)
      }
    }
  }

  /** One send (or wait for work): the oldest report that is not waiting out its own backoff. */
  private async step(signal: AbortSignal): Promise<void> {
    if (this.entries.length === 0) {
      await this.change(signal)
      return
    }
    const now = this.now().getTime()
    const head = this.entries.find((e) => e.retryAt <= now)
    if (head === undefined) {
      // Every report waits after an unknown error: until the first is due, or a new one comes.
      const due = Math.min(...this.entries.map((e) => e.retryAt))
      const waited = new AbortController()
      const either = AbortSignal.any([signal, waited.signal])
      await Promise.race([this.sleep(due - now, either), this.change(either)])
      waited.abort()
      return
    }
    let report: Uint8Array
    try {
      report = await readFile(join(this.dir, head.name))
    } catch (err) {
      // Removed by hand while we ran: nothing to send.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.forget(head)
      else await this.reject(head, { kind: 'permanent', code: 'EREAD', message: String(err) })
      return
    }
    head.attempts++
    try {
      await this.options.send(report, signal)
    } catch (err) {
      if (signal.aborted) return
      const error = this.classify(err)
      if (error.kind === 'unknown') head.unknownAttempts++
      if (
        error.kind === 'permanent' ||
        (error.kind === 'unknown' && head.unknownAttempts >= this.maxUnknownAttempts)
      ) {
        await this.reject(head, error)
        return
      }
      if (error.kind === 'unknown') {
        // Something about this report, perhaps: it waits alone, the others go on.
        const delayMs = backoffDelay(head.unknownAttempts, this.backoff, this.random)
        head.retryAt = this.now().getTime() + delayMs
        this.options.log?.warn(
          { report: head.name, attempts: head.attempts, delayMs, code: error.code, err: error.message },
          'report not accepted (unknown error); retrying it later, the others meanwhile',
        )
        this.emit({ type: 'retry', id: head.name, attempts: head.attempts, delayMs, error })
        return
      }
      this.failures++
      const delayMs = backoffDelay(this.failures, this.backoff, this.random)
      this.options.log?.warn(
        { report: head.name, attempts: head.attempts, delayMs, code: error.code, err: error.message },
        'report not accepted yet; retrying',
      )
      this.emit({ type: 'retry', id: head.name, attempts: head.attempts, delayMs, error })
      await this.transientWait.wait(delayMs, signal)
      return
    }
    this.failures = 0
    await this.remove(head)
    this.emit({ type: 'sent', id: head.name, attempts: head.attempts, depth: this.depth })
  }

  private async remove(entry: Entry): Promise<void> {
    await unlink(join(this.dir, entry.name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
    await syncDir(this.dir)
    this.forget(entry)
  }

  /** Sets a report aside in rejected/ with the reason; it is never sent again by itself. */
  private async reject(entry: Entry, error: ClassifiedError): Promise<void> {
    const rejectedDir = join(this.dir, REJECTED_DIR)
    const reason: RejectionReason = {
      ...error,
      attempts: entry.attempts,
      rejectedAt: this.now().toISOString(),
    }
    // The reason first: a crash in between leaves the report queued, to be refused again.
    await writeFileAtomic(
      join(rejectedDir, `${entry.name}${REASON_SUFFIX}`),
      `${JSON.stringify(reason, null, 2)}\n`,
    )
    await rename(join(this.dir, entry.name), join(rejectedDir, entry.name))
    await syncDir(rejectedDir)
    await syncDir(this.dir)
    this.forget(entry)
    this.options.log?.error(
      { report: join(rejectedDir, entry.name), code: error.code, err: error.message },
      'the server refused a report; kept in rejected/ with the reason',
    )
    this.emit({ type: 'rejected', id: entry.name, attempts: entry.attempts, error, depth: this.depth })
  }

  private forget(entry: Entry): void {
    const i = this.entries.indexOf(entry)
    if (i === -1) return
    this.entries.splice(i, 1)
    this.totalBytes -= entry.bytes
    this.wake()
  }

  // ── start-up ──────────────────────────────────────────────────────────────────────────────

  private async recover(): Promise<void> {
    await mkdir(join(this.dir, REJECTED_DIR), { recursive: true, mode: 0o700 })
    let removedTempFiles = 0
    const names = (await readdir(this.dir)).sort()
    for (const name of names) {
      if (isTempName(name)) {
        // A write that a crash interrupted: its round was never acknowledged as queued.
        await rm(join(this.dir, name), { force: true })
        removedTempFiles++
        continue
      }
      if (!name.endsWith(REPORT_SUFFIX)) continue
      const { size } = await stat(join(this.dir, name))
      this.entries.push({ name, bytes: size, attempts: 0, unknownAttempts: 0, retryAt: 0 })
      this.totalBytes += size
    }
    if (removedTempFiles > 0) await syncDir(this.dir)
    if (this.entries.length > 0 || removedTempFiles > 0) {
      this.options.log?.info({ dir: this.dir, ...this.depth, removedTempFiles }, 'report queue recovered')
    }
    this.emit({ type: 'recovered', depth: this.depth, removedTempFiles })
  }

  private nextName(): string {
    // Milliseconds keep order across restarts, the counter within one, the random part
    // keeps two clients sharing a folder (or a clock step back) from colliding.
    const ms = String(this.now().getTime()).padStart(13, '0')
    const seq = String(++this.seq % 1_000_000).padStart(6, '0')
    return `${ms}-${seq}-${randomBytes(4).toString('hex')}${REPORT_SUFFIX}`
  }

  // ── waiting ───────────────────────────────────────────────────────────────────────────────

  private wake(): void {
    const waiters = this.waiters
    this.waiters = new Set()
    for (const w of waiters) w()
  }

  /** Resolves at the next add/remove, or when the signal aborts. */
  private change(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted === true) return resolve()
      const done = () => {
        this.waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      this.waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  private emit(event: QueueEvent): void {
    this.options.onEvent?.(event)
  }
}
