import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { type PostgresCluster, startPostgres } from '../test/support/postgres.js'
import { benchFlags, type DbKind, databaseKinds, positiveNumber } from './args.js'
import { postmasterPid } from './cpu.js'
import {
  type BenchReport,
  type DbRun,
  EXPLAIN_WHEN,
  GROWTH_HEADING,
  type GrowthStage,
  growthReport,
  growthTable,
  markdownReport,
  resultsTable,
  writeDocs,
} from './report.js'
import { FULL_SIZE, growResults, QUICK_SIZE, type SeedSize, sampleRemotes, seed } from './seed.js'
import { benchServer } from './server-bench.js'

const USAGE = `npm run bench [-- options]

Seeds PGlite (on disk) and a throw-away PostgreSQL with a production-sized data set, starts
the real server and measures TrackHolePunch and GetAddrInfo over gRPC. The other benchmarks,
each with its own --help: --load (1 000 clients for minutes, with faults), --client (NAT lab,
root), --honeypot, --dashboard, --auth (the API-key cache), --ingest (the group commit), --replicas (1 vs 3 servers), --rest-wake (a
host's heap over rest/wake cycles).

  --quick                10 k candidates / 100 k results, 3 s per measurement (smoke run)
  --results <n[,n…]>     stored results (default 1000000; quick 100000); several values grow
                         the same database step by step and measure at each, written as the
                         growth section of docs/benchmarks.md (e.g. 1000000,3000000,10000000
                         --detail-fraction 0.1 --workers 8)
  --db pglite|postgres   only this database (default: both)
  --workers 8,32         concurrent client loops per measurement (default 8,32)
  --duration <s>         measured seconds per RPC and worker count (default 20; quick 3)
  --warmup <s>           unmeasured seconds before each measurement (default 3; quick 1)
  --days <n>             the history the results are spread over (default 30): with
                         --results 1000000,10000000 --days 365 the first size is about a
                         month of a year's results (the monthly partitions)
  --detail-fraction <f>  share of results (every n-th) that get attempts, addr links and
                         latencies (default 1)
  --no-vacuum            skip VACUUM ANALYZE after seeding (PGlite never vacuums by itself)
  --write / --no-write   write docs/benchmarks.md (default: only for a full run of both databases)
`

const values = benchFlags(
  {
    quick: { type: 'boolean', default: false },
    results: { type: 'string' },
    db: { type: 'string', multiple: true },
    workers: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'detail-fraction': { type: 'string' },
    days: { type: 'string' },
    vacuum: { type: 'boolean' },
    'no-vacuum': { type: 'boolean' },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean' },
  },
  USAGE,
)

const dbs = databaseKinds(values.db, ['pglite', 'postgres'], USAGE)
const number = (text: string | undefined, fallback: number, name: string) =>
  positiveNumber(text, fallback, name, USAGE)
const quick = values.quick
const baseSize = quick ? QUICK_SIZE : FULL_SIZE
const resultSteps = (values.results ?? String(baseSize.results))
  .split(',')
  .map((n) => Math.round(number(n, baseSize.results, '--results')))
if (resultSteps.some((n, i) => i > 0 && n <= resultSteps[i - 1]!)) {
  console.error(`--results must grow step by step, not ${values.results}`)
  process.exit(2)
}
const growth = resultSteps.length > 1
const size: SeedSize = {
  ...baseSize,
  results: resultSteps.at(-1)!,
  days: Math.round(number(values.days, baseSize.days, '--days')),
  detailFraction: Math.min(1, number(values['detail-fraction'], 1, '--detail-fraction')),
  vacuum: values['no-vacuum'] !== true,
}
const concurrencies = (values.workers ?? '8,32').split(',').map((w) => number(w, 8, '--workers'))
const durationMs = number(values.duration, quick ? 3 : 20, '--duration') * 1000
const warmupMs = number(values.warmup, quick ? 1 : 3, '--warmup') * 1000
const write =
  values['no-write'] === true
    ? false
    : (values.write ?? (!quick && dbs.length === 2 && (growth || size.results === FULL_SIZE.results)))

const started = performance.now()
const log = (line: string) => console.log(line)
const stamp = () => `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s]`

// ---- cleanup, also on Ctrl-C ------------------------------------------------------------------
const cleanups: (() => Promise<void>)[] = []
const tempDirs = new Set<string>()
let activeWorker: Worker | undefined
let interrupted = false

async function cleanUp(): Promise<void> {
  await activeWorker?.terminate()
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!
    await Promise.race([fn().catch((err) => console.error('cleanup failed:', err)), sleep(15_000, false)])
  }
}
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130) // second Ctrl-C: leave now (the exit hooks still remove files)
  interrupted = true
  console.error(`\n${signal}: stopping, removing temp data and the PostgreSQL cluster …`)
  void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

function sleep(ms: number, keepAlive = true): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    if (!keepAlive) timer.unref()
  })
}

async function runDb(kind: DbKind): Promise<DbRun> {
  log(`\n${stamp()} ==== ${kind} ====`)
  let db: Database
  let cluster: PostgresCluster | undefined
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'punchr-bench-pglite-'))
    tempDirs.add(dir)
    cleanups.push(async () => {
      rmSync(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    })
    db = await openDatabase({ dataDir: dir })
    log(`${stamp()} PGlite data dir ${dir}`)
  } else {
    cluster = await startPostgres()
    const c = cluster
    cleanups.push(() => c.stop())
    // The server's default pool size (openDatabase without poolSize).
    db = await openDatabase({ databaseUrl: cluster.url, poolSize: 10 })
    log(`${stamp()} PostgreSQL cluster in ${cluster.dir} (port ${cluster.port})`)
  }
  const opened = db
  cleanups.push(async () => {
    await opened.close()
    // Let the pool's connections finish closing before the cluster goes away.
    await sleep(300)
  })
  const version = (await db.query<{ version: string }>('SELECT version()'))[0]!.version
  log(`${stamp()} ${version}`)

  const t0 = performance.now()
  await migrate(db)
  const migrateSeconds = (performance.now() - t0) / 1000
  log(`${stamp()} migrated in ${migrateSeconds.toFixed(1)} s; seeding …`)
  const seeded = await seed(db, size, (line) => log(`${stamp()}${line}`), resultSteps[0])
  const remotes = await sampleRemotes(db, seeded.layout, quick ? 500 : 2_000)
  const postmaster = cluster === undefined ? undefined : postmasterPid(join(cluster.dir, 'data'))
  const stages: GrowthStage[] = []
  let counts: Record<string, number> = {}
  let dbSize = ''
  for (const [i, results] of resultSteps.entries()) {
    let seedSeconds = seeded.totalSeconds
    if (i > 0) {
      log(`\n${stamp()} ---- growing hole_punch_results to ${results.toLocaleString('en-US')} ----`)
      const steps = await growResults(db, seeded, results, (line) => log(`${stamp()}${line}`))
      seedSeconds = steps.reduce((sum, step) => sum + step.seconds, 0)
    }
    dbSize = (
      await db.query<{ size: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS size')
    )[0]!.size
    log(`${stamp()} seeded in ${seedSeconds.toFixed(1)} s; database size ${dbSize}`)
    counts = await tableCounts(db)
    log(
      `${stamp()} rows: ${Object.entries(counts)
        .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
        .join(', ')}`,
    )
    log(`${stamp()} starting the server and measuring …`)
    const bench = await benchServer(db, seeded.hosts, remotes, {
      concurrencies,
      warmupMs,
      durationMs,
      vacuum: size.vacuum,
      log: (line) => log(line.startsWith('  ') && !line.startsWith('    ') ? `${stamp()}${line}` : line),
      postmaster,
      onServer: (server) => cleanups.push(() => server.destroy()),
      onWorker: (w) => {
        activeWorker = w
      },
    })
    log(
      `${stamp()} fairness: ${bench.fairness.distinct.toLocaleString('en-US')} distinct remotes in ${bench.fairness.calls.toLocaleString('en-US')} GetAddrInfo answers, at most ${bench.fairness.maxPerRemote} per remote, ${bench.fairness.emptyAddrs} answers without relay addrs`,
    )
    for (const { when, plan } of bench.explains) {
      log(
        `\n${stamp()} EXPLAIN (ANALYZE, BUFFERS) of the allocation statement on ${kind}, ${EXPLAIN_WHEN[when]}:\n${plan ?? '(not captured)'}\n`,
      )
    }
    stages.push({ results: counts.hole_punch_results ?? results, seedSeconds, dbSize, bench })
    if (growth)
      log(
        `\n${growthTable([{ kind, version, migrateSeconds, seed: seeded, dbSize, counts, bench, stages }], concurrencies)}\n`,
      )
  }
  // Close this database now (in reverse order of opening) so the next one has the machine.
  while (cleanups.length > 0) await cleanups.pop()!()
  return { kind, version, migrateSeconds, seed: seeded, dbSize, counts, bench: stages.at(-1)!.bench, stages }
}

async function tableCounts(db: Database): Promise<Record<string, number>> {
  const tables = [
    'peers',
    'multi_addresses',
    'connection_events',
    'connection_events_x_multi_addresses',
    'remote_candidates',
    'allocations',
    'clients',
    'hole_punch_results',
    'hole_punch_results_x_multi_addresses',
    'hole_punch_results_x_listen_multi_addresses',
    'hole_punch_attempts',
    'hole_punch_attempts_x_multi_addresses',
    'latency_measurements',
  ]
  const rows = await db.query<{ t: string; n: string | number }>(
    tables.map((t) => `SELECT '${t}' AS t, count(*) AS n FROM ${t}`).join(' UNION ALL '),
  )
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]))
}

/** The commit measured, and whether src/ or sql/ had uncommitted changes (the tree may be shared). */
function gitState(): { commit: string; dirty: string[] } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'sql'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.slice(3))
    return { commit, dirty }
  } catch {
    return { commit: 'unknown', dirty: [] }
  }
}

function pgliteVersion(): string {
  const pkg = JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
  return pkg.version
}

try {
  const git = gitState()
  log(
    `punchr server benchmark${quick ? ' (--quick)' : ''}: ${size.candidates.toLocaleString('en-US')} candidates, ${resultSteps.map((n) => n.toLocaleString('en-US')).join(' → ')} results, workers ${concurrencies.join(', ')}, ${durationMs / 1000} s per measurement`,
  )
  const runs: DbRun[] = []
  for (const kind of dbs) runs.push(await runDb(kind))
  const report: BenchReport = {
    date: new Date(),
    quick,
    args: process.argv.slice(2),
    size,
    concurrencies,
    durationMs,
    warmupMs,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown CPU',
      cores: cpus().length,
      memoryGiB: totalmem() / 2 ** 30,
      node: process.version,
      pglite: pgliteVersion(),
    },
    runs,
    git,
  }
  log(`\n${resultsTable(report)}\n`)
  if (growth) log(`\n${growthTable(report.runs, report.concurrencies)}\n`)
  if (write) {
    const file = growth ? writeDocs(growthReport(report), GROWTH_HEADING) : writeDocs(markdownReport(report))
    log(`wrote ${file}`)
  } else {
    log('docs/benchmarks.md not written (only a full run of both databases writes it; --write forces it)')
  }
  log(`${stamp()} done`)
} catch (err) {
  if (!interrupted) {
    console.error(err)
    process.exitCode = 1
  }
} finally {
  if (!interrupted) await cleanUp()
}
