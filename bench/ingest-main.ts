// `npm run bench -- --ingest`: TrackHolePunch against a real server with the group commit off
// (every report in a transaction of its own, --report-batch-max 1) and on (the defaults), on
// the same database in one run: reports per second, latency, and what each report cost the
// database in statements and transactions.
import type { Database } from '../src/db/database.js'
import { REPORT_BATCH_DEFAULTS } from '../src/server/config.js'
import { createServer } from '../src/server/server.js'
import { loopbackServerConfig, testGeo } from '../test/support/server.js'
import { benchFlags, type DbKind, databaseKinds, positiveNumber } from './args.js'
import { type CpuShares, type CpuSnapshot, cpuShares, cpuSnapshot } from './cpu.js'
import type { LoadSpec, WorkerHost } from './load-worker.js'
import {
  countingDatabase,
  registeredHosts,
  runLoadWorker,
  syntheticRemote,
  withBenchDatabase,
} from './rpc-load.js'
import type { RemoteSample } from './seed.js'
import { int, ms, summarize } from './stats.js'

const USAGE = `npm run bench -- --ingest [--db pglite|postgres] [--seconds 10] [--workers 8,32]

  --db        only this database (default: both)
  --seconds   measured seconds per run (default: 10, after 2 s of warm-up)
  --workers   concurrent client loops, each on its own HTTP/2 connection (default: 8,32)`

const values = benchFlags(
  {
    ingest: { type: 'boolean' },
    db: { type: 'string', multiple: true },
    seconds: { type: 'string' },
    workers: { type: 'string' },
  },
  USAGE,
)
const dbs = databaseKinds(values.db, ['pglite', 'postgres'], USAGE)
const seconds = positiveNumber(values.seconds, 10, '--seconds', USAGE)
const workerCounts = (values.workers ?? '8,32')
  .split(',')
  .map((w) => Math.round(positiveNumber(w, 8, '--workers', USAGE)))
/** 200 client hosts on 20 keys reporting about 2 000 remotes, as in the server benchmark. */
const KEYS = 20
const HOSTS_PER_KEY = 10
const REMOTES = 2_000

type Batching = 'off' | 'on'

interface Run {
  db: DbKind
  workers: number
  batching: Batching
  reportsPerSecond: number
  p50: number
  p99: number
  statementsPerReport: number
  reportsPerBatch: number
  errors: number
  cpu: CpuShares | undefined
}

const runs: Run[] = []
for (const kind of dbs) runs.push(...(await benchDatabase(kind)))

console.log(
  `\nTrackHolePunch, ${seconds} s measured per row (${KEYS * HOSTS_PER_KEY} hosts on ${KEYS} keys, ${REMOTES} remotes)\n`,
)
console.log(
  '| database | workers | group commit | reports/s | p50 ms | p99 ms | SQL statements per report | reports per batch | errors | CPU cores: server / load generator / PostgreSQL | on ÷ off |',
)
console.log('|---|--:|---|--:|--:|--:|--:|--:|--:|---|--:|')
for (const run of runs) {
  const off = runs.find((r) => r.db === run.db && r.workers === run.workers && r.batching === 'off')!
  const ratio = run.batching === 'on' ? `${(run.reportsPerSecond / off.reportsPerSecond).toFixed(2)}×` : ''
  console.log(
    `| ${run.db} | ${run.workers} | ${run.batching} | ${int(run.reportsPerSecond)} | ${ms(run.p50)} | ${ms(run.p99)} | ${run.statementsPerReport.toFixed(2)} | ${run.reportsPerBatch.toFixed(1)} | ${run.errors} | ${cpuColumn(run.cpu)} | ${ratio} |`,
  )
}

function cpuColumn(cpu: CpuShares | undefined): string {
  if (cpu === undefined) return ''
  return [cpu.serverThread, cpu.restOfProcess, cpu.postgres].map((c) => c.toFixed(2)).join(' / ')
}

function benchDatabase(kind: DbKind): Promise<Run[]> {
  return withBenchDatabase(kind, async (db, postmaster) => {
    const hosts = await registeredHosts(db, KEYS, HOSTS_PER_KEY)
    const remotes = await Promise.all(Array.from({ length: REMOTES }, (_, i) => syntheticRemote(i)))
    const result: Run[] = []
    for (const workers of workerCounts)
      for (const batching of ['off', 'on'] as const)
        result.push(await benchServer(kind, db, batching, workers, hosts, remotes, postmaster))
    return result
  })
}

async function benchServer(
  kind: DbKind,
  db: Database,
  batching: Batching,
  workers: number,
  hosts: WorkerHost[],
  remotes: RemoteSample[],
  postmaster: number | undefined,
): Promise<Run> {
  const { db: counted, counts } = countingDatabase(db)
  const config =
    batching === 'off'
      ? // Two reports written at a time, as the tables of earlier days had it.
        loopbackServerConfig({ reportBatchMax: 1, reportBatchWindow: 0, reportBatchWriters: 2 })
      : loopbackServerConfig({
          reportBatchMax: REPORT_BATCH_DEFAULTS.maxReports,
          reportBatchWindow: REPORT_BATCH_DEFAULTS.windowMs,
        })
  const server = await createServer(config, { db: counted, geo: await testGeo() })
  await server.start()
  try {
    const spec: LoadSpec = {
      rpc: 'TrackHolePunch',
      grpcUrl: `http://127.0.0.1:${server.grpcPort}`,
      concurrency: workers,
      warmupMs: 2_000,
      durationMs: seconds * 1000,
      hosts,
      remotes,
    }
    process.stderr.write(
      `${kind}, ${workers} workers, group commit ${batching}: ${spec.warmupMs / 1000} s warm-up + ${seconds} s …\n`,
    )
    counts.statements = 0
    counts.batches = 0
    let cpuFrom: CpuSnapshot | undefined
    let cpuTo: CpuSnapshot | undefined
    const load = await runLoadWorker(spec, (measuring) => {
      counts.counting = measuring
      if (measuring) cpuFrom = cpuSnapshot(postmaster)
      else cpuTo = cpuSnapshot(postmaster)
    })
    const latency = summarize([...load.latencies])
    const errors = Object.values(load.errors).reduce((a, b) => a + b, 0)
    if (load.firstError !== undefined) process.stderr.write(`  first error: ${load.firstError}\n`)
    return {
      db: kind,
      workers,
      batching,
      reportsPerSecond: load.ok / (load.windowMs / 1000),
      p50: latency.p50,
      p99: latency.p99,
      statementsPerReport: load.ok === 0 ? 0 : counts.statements / load.ok,
      reportsPerBatch: counts.batches === 0 ? 0 : load.ok / counts.batches,
      errors,
      cpu: cpuFrom !== undefined && cpuTo !== undefined ? cpuShares(cpuFrom, cpuTo) : undefined,
    }
  } finally {
    await server.destroy()
  }
}
