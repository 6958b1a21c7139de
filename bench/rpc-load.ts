// What the single-RPC benchmarks (--auth, --ingest) share: a database that counts its
// statements and transactions, and a load run in a worker thread.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { addApiKey } from '../src/db/authorizations.js'
import { registerClient } from '../src/db/clients.js'
import { type Database, openDatabase, type Queryable } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { upsertPeer } from '../src/db/peers.js'
import { newPeer } from '../test/support/fixtures.js'
import { type PostgresCluster, startPostgres } from '../test/support/postgres.js'
import type { DbKind } from './args.js'
import { postmasterPid } from './cpu.js'
import type { LoadResult, LoadSpec, WorkerHost } from './load-worker.js'
import type { RemoteSample } from './seed.js'

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

/**
 * `db` with counters of what the server sent it while `counting` is on: statements, and the
 * report batches among them (each batch is one statement, src/db/report-batch.ts).
 */
export function countingDatabase(db: Database): {
  db: Database
  counts: { counting: boolean; statements: number; batches: number }
} {
  const counts = { counting: false, statements: 0, batches: 0 }
  const counting = (q: Queryable): Queryable => ({
    query: (sql, params, options) => {
      if (counts.counting) {
        counts.statements++
        if (sql.includes('INSERT INTO hole_punch_report_digests')) counts.batches++
      }
      return q.query(sql, params, options)
    },
  })
  const counted: Database = {
    ...db,
    ...counting(db),
    transaction: (fn) => db.transaction((tx) => fn(counting(tx))),
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

/** `keys` API keys with `hostsPerKey` registered client hosts each, as the load worker uses them. */
export async function registeredHosts(
  db: Database,
  keys: number,
  hostsPerKey: number,
): Promise<WorkerHost[]> {
  const hosts: WorkerHost[] = []
  for (let k = 0; k < keys; k++) {
    const { key, authorization } = await addApiKey(db, `bench-${k}`)
    const group = await Promise.all(Array.from({ length: hostsPerKey }, () => newPeer()))
    for (const [i, peer] of group.entries()) {
      await registerClient(db, await upsertPeer(db, { multiHash: peer.id }), authorization.id)
      const lan = `192.168.${k}.${10 + i}`
      hosts.push({
        peerId: peer.id,
        apiKey: key,
        group: group.map((p) => p.id),
        listenAddrs: [
          `/ip4/${lan}/tcp/4001`,
          `/ip4/${lan}/udp/4001/quic-v1`,
          '/ip4/127.0.0.1/tcp/4001',
          '/ip6/::1/tcp/4001',
        ],
      })
    }
  }
  return hosts
}

/** A remote behind one of 20 relays, with a public TCP and QUIC address in 11.64.0.0/10. */
export async function syntheticRemote(i: number): Promise<RemoteSample> {
  const [remote, relay] = await Promise.all([newPeer(), newPeer()])
  const relayDirect = `/ip4/11.0.0.${1 + (i % 20)}/tcp/4001`
  const publicIp = `11.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`
  return {
    id: remote.id,
    relayAddrs: [
      `${relayDirect}/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`,
      `/ip4/11.0.0.${1 + (i % 20)}/udp/4001/quic-v1/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`,
    ],
    publicAddrs: [`/ip4/${publicIp}/tcp/4001`, `/ip4/${publicIp}/udp/4001/quic-v1`],
    relayId: relay.id,
    relayDirectAddr: relayDirect,
  }
}
