// `npm run bench -- --auth`: Register, the RPC that is little more than its key check, against
// a real server with the API-key cache off and on (src/server/api-key-cache.ts), on the same
// database in one run: calls per second, latency and database statements per call.
import { addApiKey } from '../src/db/authorizations.js'
import type { Database } from '../src/db/database.js'
import { createServer } from '../src/server/server.js'
import { newPeer } from '../test/support/fixtures.js'
import { loopbackServerConfig, testGeo } from '../test/support/server.js'
import { benchFlags, type DbKind, databaseKinds, positiveNumber } from './args.js'
import type { LoadSpec, WorkerHost } from './load-worker.js'
import { countingDatabase, runLoadWorker, withBenchDatabase } from './rpc-load.js'
import { int, ms, summarize } from './stats.js'

const USAGE = `npm run bench -- --auth [--db pglite|postgres] [--seconds 10] [--workers 8]

  --db        only this database (default: both)
  --seconds   measured seconds per run (default: 10, after 2 s of warm-up)
  --workers   concurrent client loops, each on its own HTTP/2 connection (default: 8)`

const values = benchFlags(
  {
    auth: { type: 'boolean' },
    db: { type: 'string', multiple: true },
    seconds: { type: 'string' },
    workers: { type: 'string' },
  },
  USAGE,
)
const dbs = databaseKinds(values.db, ['pglite', 'postgres'], USAGE)
const seconds = positiveNumber(values.seconds, 10, '--seconds', USAGE)
const workers = Math.round(positiveNumber(values.workers, 8, '--workers', USAGE))
/** 200 client hosts on 20 keys, as in the server benchmark's data set. */
const KEYS = 20
const HOSTS_PER_KEY = 10

interface Run {
  db: DbKind
  cache: 'off' | 'on'
  callsPerSecond: number
  p50: number
  p99: number
  statementsPerCall: number
  errors: number
}

const runs: Run[] = []
for (const kind of dbs) runs.push(...(await benchDatabase(kind)))

console.log(
  `\nRegister, ${workers} workers, ${seconds} s measured per row (${KEYS * HOSTS_PER_KEY} hosts on ${KEYS} keys)\n`,
)
console.log(
  '| database | key cache | calls/s | p50 ms | p99 ms | SQL statements per call | errors | cache on ÷ off |',
)
console.log('|---|---|--:|--:|--:|--:|--:|--:|')
for (const run of runs) {
  const off = runs.find((r) => r.db === run.db && r.cache === 'off')!
  const ratio = run.cache === 'on' ? `${(run.callsPerSecond / off.callsPerSecond).toFixed(2)}×` : ''
  console.log(
    `| ${run.db} | ${run.cache} | ${int(run.callsPerSecond)} | ${ms(run.p50)} | ${ms(run.p99)} | ${run.statementsPerCall.toFixed(2)} | ${run.errors} | ${ratio} |`,
  )
}

function benchDatabase(kind: DbKind): Promise<Run[]> {
  return withBenchDatabase(kind, async (db) => {
    const hosts: WorkerHost[] = []
    for (let k = 0; k < KEYS; k++) {
      const { key } = await addApiKey(db, `bench-${k}`)
      const group = await Promise.all(Array.from({ length: HOSTS_PER_KEY }, () => newPeer()))
      for (const peer of group)
        hosts.push({ peerId: peer.id, apiKey: key, group: group.map((p) => p.id), listenAddrs: [] })
    }
    const result: Run[] = []
    for (const cache of ['off', 'on'] as const) result.push(await benchServer(kind, db, cache, hosts))
    return result
  })
}

async function benchServer(
  kind: DbKind,
  db: Database,
  cache: 'off' | 'on',
  hosts: WorkerHost[],
): Promise<Run> {
  const { db: counted, counts } = countingDatabase(db)
  const server = await createServer(loopbackServerConfig(), {
    db: counted,
    geo: await testGeo(),
    ...(cache === 'off' ? { apiKeyCache: { maxEntries: 0 } } : {}),
  })
  await server.start()
  try {
    const spec: LoadSpec = {
      rpc: 'Register',
      grpcUrl: `http://127.0.0.1:${server.grpcPort}`,
      concurrency: workers,
      warmupMs: 2_000,
      durationMs: seconds * 1000,
      hosts,
      remotes: [],
    }
    process.stderr.write(`${kind}, key cache ${cache}: ${spec.warmupMs / 1000} s warm-up + ${seconds} s …\n`)
    const load = await runLoadWorker(spec, (measuring) => {
      counts.counting = measuring
    })
    const latency = summarize([...load.latencies])
    const errors = Object.values(load.errors).reduce((a, b) => a + b, 0)
    if (load.firstError !== undefined) process.stderr.write(`  first error: ${load.firstError}\n`)
    return {
      db: kind,
      cache,
      callsPerSecond: load.ok / (load.windowMs / 1000),
      p50: latency.p50,
      p99: latency.p99,
      statementsPerCall: load.ok === 0 ? 0 : counts.statements / load.ok,
      errors,
    }
  } finally {
    await server.destroy()
  }
}
