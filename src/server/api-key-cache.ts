import type { Authorization } from '../db/authorizations.js'
import type { Database } from '../db/database.js'
import { logger } from '../lib/logger.js'

/** The channel migration 0006 announces every change of an API key on. */
export const API_KEY_CHANNEL = 'punchr_api_keys'

export interface ApiKeyCacheOptions {
  /**
   * How long a key checked once is trusted while this process hears the announcements of
   * key changes (a revocation empties the cache at once; the bound covers a lost one).
   * @default 60 s
   */
  listeningTtlMs?: number
  /** How long while it does not (connection lost, not yet listening): a revocation waits this long at most. @default 5 s */
  deafTtlMs?: number
  /** Keys kept; the oldest go first. @default 10 000 */
  maxEntries?: number
  now?: () => number
}

/**
 * The API keys this server process has checked, so that every call of a client does not cost a
 * database round trip (Register used to look its key up each time, and lost to the original Go
 * server, which caches). Only keys found in the database are kept, revoked ones included: a
 * guessed key must not push real ones out, and failed attempts are rate-limited anyway.
 *
 * Revocation reaches every process within seconds: each LISTENs on API_KEY_CHANNEL and drops
 * everything it holds when a key changes; while it cannot listen, entries live `deafTtlMs`.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { authorization: Authorization; expiresAt: number }>()
  private readonly listeningTtlMs: number
  private readonly deafTtlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private listening = false
  /** Bumped by every clear(): a lookup that started before one must not refill the cache. */
  private clears = 0
  private unlisten: (() => Promise<void>) | undefined

  constructor(options: ApiKeyCacheOptions = {}) {
    this.listeningTtlMs = options.listeningTtlMs ?? 60_000
    this.deafTtlMs = options.deafTtlMs ?? 5_000
    this.maxEntries = options.maxEntries ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** Starts hearing key changes on `db`. */
  async listen(db: Database): Promise<void> {
    const log = logger('server')
    this.unlisten = await db.listen(
      API_KEY_CHANNEL,
      (id) => {
        log.debug({ authorization: id }, 'an API key changed: cached keys dropped')
        this.clear()
      },
      (listening) => {
        // Whatever changed while nobody listened is unknown: start afresh.
        if (listening !== this.listening) this.clear()
        this.listening = listening
      },
    )
  }

  async stop(): Promise<void> {
    await this.unlisten?.()
    this.unlisten = undefined
  }

  /** The authorization of a key (by its SHA-256, hex) checked recently enough; undefined otherwise. */
  get(keyHash: string): Authorization | undefined {
    const entry = this.entries.get(keyHash)
    if (entry === undefined) return undefined
    if (entry.expiresAt > this.now()) return entry.authorization
    this.entries.delete(keyHash)
    return undefined
  }

  /** What to hand set() back: taken before the database lookup whose result it stores. */
  ticket(): number {
    return this.clears
  }

  /**
   * Keeps a key's authorization as read from the database, unless the cache was cleared since
   * `ticket` was taken: the read may predate the change that cleared it.
   */
  set(keyHash: string, authorization: Authorization, ticket: number): void {
    if (ticket !== this.clears) return
    this.entries.delete(keyHash)
    this.entries.set(keyHash, {
      authorization,
      expiresAt: this.now() + (this.listening ? this.listeningTtlMs : this.deafTtlMs),
    })
    // Insertion order is age order: the oldest entry is the first.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
  }

  clear(): void {
    this.clears++
    this.entries.clear()
  }

  get size(): number {
    return this.entries.size
  }
}
