// What the single-RPC benchmarks (--auth, --ingest) share: a database that counts its
// statements and transactions, and a load run in a worker thread.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { type PostgresCluster, startPostgres } from '../test/support/postgres.js'
import type { DbKind } from './args.js'
import { postmasterPid } from './cpu.js'
import type { LoadResult, LoadSpec } from './load-worker.js'

/**
 * Runs `fn` on a fresh, migrated database of `kind`: PGlite on disk in a temporary folder, or
 * a throw-away PostgreSQL cluster (with its postmaster's PID, to account for its CPU). Closed
 * and removed afterwards.
 */
export async function withBenchDatabase<T>(
  kind: DbKind,
  fn: (db: Database, postmaster: number | undefined) => Promise<T>,
): Promise<T> {
  let cluster: PostgresCluster | undefined
  const dir = mkdtempSync(join(tmpdir(), 'punchr-bench-'))
  let db: Database | undefined
  try {
    if (kind === 'postgres') cluster = await startPostgres()
    db = await openDatabase(cluster === undefined ? { dataDir: dir } : { databaseUrl: cluster.url })
    await migrate(db)
    return await fn(db, cluster === undefined ? undefined : postmasterPid(join(cluster.dir, 'data')))
  } finally {
    await db?.close()
    // Let the pool's connections finish closing before the cluster goes away.
    await new Promise((resolve) => setTimeout(resolve, 300))
    await cluster?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `db` with counters of what the server sent it while `counting` is on. */
export function countingDatabase(db: Database): {
  db: Database
  counts: { counting: boolean; statements: number; transactions: number }
} {
  const counts = { counting: false, statements: 0, transactions: 0 }
  const counted: Database = {
    ...db,
    query: (sql, params) => {
      if (counts.counting) counts.statements++
      return db.query(sql, params)
    },
    transaction: (fn) => {
      if (counts.counting) counts.transactions++
      return db.transaction((tx) =>
        fn({
          query: (sql, params) => {
            if (counts.counting) counts.statements++
            return tx.query(sql, params)
          },
        }),
      )
    },
  }
  return { db: counted, counts }
}

/**
 * Runs `spec` in the load worker (bench/load-worker.ts); `onMeasuring(true)` when its warm-up
 * is over, `onMeasuring(false)` when it is done.
 */
export function runLoadWorker(
  spec: LoadSpec,
  onMeasuring: (measuring: boolean) => void,
): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: spec })
    worker.on('message', (msg: { measuring?: true; result?: LoadResult; error?: string }) => {
      if (msg.measuring === true) onMeasuring(true)
      else if (msg.result !== undefined) {
        onMeasuring(false)
        resolve(msg.result)
        void worker.terminate()
      } else reject(new Error(`load worker: ${msg.error}`))
    })
    worker.once('error', reject)
  })
}
