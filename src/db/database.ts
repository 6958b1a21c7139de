import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { DatabaseUnavailableError, TransactionConflictError } from '../lib/errors.js'
import { logger } from '../lib/logger.js'
import { lockDataDir } from './data-dir-lock.js'

const log = logger('db')

/** Something that runs parameterised SQL: the database itself or an open transaction. */
export interface Queryable {
  /** Runs one parameterised statement (`$1`, `$2`, …) and returns its rows. */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<Row[]>
}

export interface QueryOptions {
  /**
   * A statement of the request path, run very often with the same text: on PostgreSQL each
   * connection prepares it once (a named statement) and PostgreSQL may then keep one plan for
   * it instead of planning every call, which cost the report path a third of PostgreSQL's
   * time per statement (docs/benchmarks.md). Not for statements whose best plan depends on
   * their parameters (the allocation's); PGlite ignores it.
   */
  prepare?: boolean
}

/**
 * The one database interface of punchr. Two implementations: PGlite (embedded Postgres in
 * WASM, a data folder, the default) and PostgreSQL through `pg` (when DATABASE_URL is set).
 * Both run the same SQL, migrations included.
 */
export interface Database extends Queryable {
  /** `pglite` or `postgres`, for logs and metrics. */
  readonly kind: 'pglite' | 'postgres'
  /** Runs `fn` inside BEGIN … COMMIT; any error rolls back and is rethrown. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** Runs a multi-statement SQL script without parameters (migrations). */
  exec(sql: string): Promise<void>
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` (a plain lower-case name)
   * until the returned function is called or the database closes. On PostgreSQL a connection of
   * its own listens and reconnects after a loss; `onListening` hears when it listens and when
   * it stopped, since a notification sent meanwhile is lost. Never rejects for the database
   * being down: it keeps trying.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListening?: (listening: boolean) => void,
  ): Promise<() => Promise<void>>
  /** Closes every connection. Idempotent. */
  close(): Promise<void>
}

/** Pause before a lost LISTEN connection to PostgreSQL tries again. */
const LISTEN_RETRY_MS = 2_000

function checkChannel(channel: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`)
}

export interface OpenDatabaseOptions {
  /** postgres://… URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl?: string | undefined
  /** PGlite data folder; `memory://` keeps everything in memory (tests). */
  dataDir?: string | undefined
  /** Maximum PostgreSQL pool size. @default 10 */
  poolSize?: number | undefined
}

/** Opens the database the options select. Does not migrate (see migrate.ts). */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl !== undefined && options.databaseUrl !== '') {
    return openPostgres(options.databaseUrl, options.poolSize ?? 10)
  }
  return openPglite(options.dataDir ?? './punchr-data')
}

async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://')
  if (!inMemory) mkdirSync(dataDir, { recursive: true })
  const unlock = inMemory ? () => undefined : lockDataDir(dataDir)
  let db: PGlite
  try {
    db = await PGlite.create(dataDir)
  } catch (err) {
    unlock()
    throw err
  }
  log.info({ dataDir }, 'opened embedded PGlite database')
  // PGlite is one connection: transactions must not interleave with other statements, so
  // every call goes through one queue. Inside a transaction the callback uses `tx` directly.
  let tail: Promise<unknown> = Promise.resolve()
  const serialise = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn).catch((err: unknown) => {
      // A closed embedded database is as unreachable as a stopped PostgreSQL server.
      if (err instanceof Error && err.message === 'PGlite is closed')
        throw new DatabaseUnavailableError(err.message, { cause: err })
      throw err
    })
    tail = run.catch(() => undefined)
    return run
  }
  let closed = false
  return {
    kind: 'pglite',
    query: <Row>(sql: string, params: readonly unknown[] = []) =>
      serialise(async () => (await db.query<Row>(sql, params as unknown[])).rows),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      serialise(() =>
        db.transaction(async (tx) =>
          fn({
            query: async <Row>(sql: string, params: readonly unknown[] = []) =>
              (await tx.query<Row>(sql, params as unknown[])).rows,
          }),
        ),
      ),
    exec: (sql: string) => serialise(async () => void (await db.exec(sql))),
    listen: async (channel, onNotify, onListening) => {
      checkChannel(channel)
      const unlisten = await serialise(() => db.listen(channel, onNotify))
      onListening?.(true)
      return async () => {
        if (!closed) await serialise(() => unlisten())
        onListening?.(false)
      }
    },
    close: async () => {
      if (closed) return
      closed = true
      await tail
      await db.close()
      unlock()
    },
  }
}

/** PostgreSQL error classes that mean "the server is not reachable right now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
])

/** Turns connection-level failures into DatabaseUnavailableError; other errors pass through. */
function classify(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    /Connection terminated|timeout exceeded when trying to connect|connection error and is not queryable/i.test(
      message,
    )
  ) {
    return new DatabaseUnavailableError(message, { cause: err })
  }
  return err
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 })
  // An idle client losing its connection (server restart) must not crash the process.
  // Log only message and code: the error carries the pg client, cancel key included.
  pool.on('error', (err) =>
    log.warn(
      { err: err.message, code: (err as { code?: string }).code },
      'idle PostgreSQL connection failed',
    ),
  )
  // A client checked out for a transaction has no pool listener: when its connection ends
  // (server restart, pg_terminate_backend) pg emits 'error' on it besides failing the query,
  // and an unheard 'error' kills the process. The query's own rejection carries the failure.
  pool.on('connect', (client) =>
    client.on('error', (err) =>
      log.debug({ err: err.message, code: (err as { code?: string }).code }, 'PostgreSQL connection lost'),
    ),
  )
  const safeUrl = url.replace(/\/\/[^@/]*@/, '//***@')
  log.info({ url: safeUrl }, 'using PostgreSQL')
  const statementNames = new StatementNames()
  const run = async <Row>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params: readonly unknown[],
    options?: QueryOptions,
  ) => {
    const name = options?.prepare === true ? statementNames.nameOf(sql) : undefined
    try {
      const result =
        name === undefined
          ? await client.query(sql, params as unknown[])
          : await client.query({ name, text: sql, values: params as unknown[] })
      return result.rows as Row[]
    } catch (err) {
      throw classify(err)
    }
  }
  let closed = false
  const listeners = new Set<() => Promise<void>>()
  return {
    kind: 'postgres',
    query: <Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) =>
      run<Row>(pool, sql, params, options),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => retryConflicts(() => transactionOnce(fn)),
    exec: async (sql: string) => {
      await run(pool, sql, [])
    },
    listen: async (channel, onNotify, onListening) => {
      checkChannel(channel)
      const stop = listenPostgres(url, channel, onNotify, onListening)
      listeners.add(stop)
      return async () => {
        listeners.delete(stop)
        await stop()
      }
    },
    close: async () => {
      if (closed) return
      closed = true
      await Promise.all([...listeners].map((stop) => stop()))
      await pool.end()
    },
  }

  async function transactionOnce<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      throw classify(err)
    }
    try {
      await run(client, 'BEGIN', [])
      const result = await fn({
        query: <Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) =>
          run<Row>(client, sql, params, options),
      })
      await run(client, 'COMMIT', [])
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }
}

/**
 * Names for prepared statements, one per statement text. pg keeps every named statement on
 * each connection for the connection's life, so the names are capped: past MAX_PREPARED
 * texts (statements built with a varying text, a mistake) the rest run unprepared.
 */
class StatementNames {
  private readonly names = new Map<string, string>()

  nameOf(sql: string): string | undefined {
    let name = this.names.get(sql)
    if (name === undefined && this.names.size < MAX_PREPARED) {
      name = `punchr_${this.names.size}`
      this.names.set(sql, name)
    }
    return name
  }
}

/** Distinct statement texts prepared per database at most (see StatementNames). */
const MAX_PREPARED = 200

/**
 * LISTEN on a connection of its own (a pooled one would be handed to queries), connected again
 * LISTEN_RETRY_MS after a failure or loss until stopped. Returns the stop function.
 */
function listenPostgres(
  url: string,
  channel: string,
  onNotify: (payload: string) => void,
  onListening?: (listening: boolean) => void,
): () => Promise<void> {
  let stopped = false
  let client: pg.Client | undefined
  let retry: NodeJS.Timeout | undefined
  const again = () => {
    if (stopped || retry !== undefined) return
    retry = setTimeout(() => {
      retry = undefined
      void connect()
    }, LISTEN_RETRY_MS)
    retry.unref()
  }
  const connect = async () => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
    c.on('notification', (message) => {
      if (message.channel === channel) onNotify(message.payload ?? '')
    })
    // Log only message and code: the error carries the pg client, cancel key included.
    c.on('error', (err) =>
      log.warn(
        { channel, err: err.message, code: (err as { code?: string }).code },
        'LISTEN connection failed',
      ),
    )
    c.on('end', () => {
      if (client === c) {
        client = undefined
        onListening?.(false)
      }
      again()
    })
    try {
      await c.connect()
      await c.query(`LISTEN ${channel}`)
    } catch (err) {
      log.warn({ channel, err: (err as Error).message }, 'cannot LISTEN; trying again')
      await c.end().catch(() => undefined)
      again()
      return
    }
    if (stopped) return void (await c.end().catch(() => undefined))
    client = c
    onListening?.(true)
  }
  void connect()
  return async () => {
    stopped = true
    clearTimeout(retry)
    const c = client
    client = undefined
    if (c !== undefined) {
      onListening?.(false)
      await c.end().catch(() => undefined)
    }
  }
}

/** SQLSTATEs of a transaction that lost to a concurrent one: retrying it whole is safe. */
const CONFLICT_CODES = new Set(['40P01', '40001'])
/** Tries of a transaction that keeps conflicting; jittered pauses of up to ~10, 20, 40 ms between. */
const CONFLICT_TRIES = 4
const CONFLICT_PAUSE_MS = 10

/**
 * Runs a transaction again when PostgreSQL aborted it as a deadlock victim or a
 * serialization failure: every statement of ours is safe to repeat from the start (the report
 * insert is idempotent, an allocation picks again), and the client should not see INTERNAL for
 * what a retry fixes. After CONFLICT_TRIES the caller gets TransactionConflictError, which the
 * server answers with a code clients retry.
 */
export async function retryConflicts<T>(
  attempt: () => Promise<T>,
  tries = CONFLICT_TRIES,
  pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code
      if (typeof code !== 'string' || !CONFLICT_CODES.has(code)) throw err
      if (i >= tries)
        throw new TransactionConflictError(
          `transaction failed ${tries} times on conflicts with concurrent ones (${code}): ${(err as Error).message}`,
          { cause: err },
        )
      log.debug({ code, try: i }, 'transaction conflicted with a concurrent one; running it again')
      await pause(CONFLICT_PAUSE_MS * 2 ** (i - 1) * (0.5 + Math.random() / 2))
    }
  }
}
