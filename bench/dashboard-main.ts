// `npm run bench -- --dashboard`: how fast the dashboard gets its data with 1 M results in
// PostgreSQL (issue 8: first paint and chart data under one second). Seeds a throw-away
// cluster with bench/seed.ts (1 M results over 30 days) on the first migration, then applies
// the later ones — as an upgrade of a full database would, so their backfill is timed too —
// serves the dashboard as the server does, and times every JSON endpoint the page calls, the
// page's requests together as a browser sends them, and (with Debian's chromium) the page
// itself. Writes the "Dashboard" section of docs/benchmarks.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { createDashboard } from '../src/dashboard/http.js'
import { BREAKDOWN_DIMENSIONS } from '../src/dashboard/queries/breakdowns.js'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate, readMigrations, splitStatements } from '../src/db/migrate.js'
import { startPostgres } from '../test/support/postgres.js'
import { benchFlags } from './args.js'
import { type CpuShares, cpuShares, cpuSnapshot, postmasterPid } from './cpu.js'
import { writeDocs } from './report.js'
import { FULL_SIZE, QUICK_SIZE, type SeedSize, seed } from './seed.js'
import { int, ms, summarize } from './stats.js'

const HEADING = '## Dashboard: page data at 1 M results'
const CHROMIUM = process.env.PUNCHR_TEST_CHROMIUM ?? '/usr/bin/chromium'
const USAGE = `npm run bench -- --dashboard [--quick] [--runs <n>] [--no-browser] [--no-write]

  --quick        100 k results instead of 1 M (does not write docs/benchmarks.md)
  --runs <n>     timed repetitions of every measurement (default 5), after one untimed
  --no-browser   skip the page in headless Chromium (${CHROMIUM})
  --no-write     do not update docs/benchmarks.md`

const values = benchFlags(
  {
    dashboard: { type: 'boolean' },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string', default: '5' },
    'no-browser': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
  USAGE,
)
const runs = Number(values.runs)
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a whole number ≥ 1\n\n${USAGE}`)
  process.exit(2)
}
// Vacuumed after the later migrations instead, whose backfill leaves dead row versions.
const size: SeedSize = { ...(values.quick ? QUICK_SIZE : FULL_SIZE), vacuum: false }
const browserWanted = !values['no-browser']
const write = !values['no-write'] && !values.quick

const started = performance.now()
const stamp = () => `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s]`
const log = (line: string) => console.log(`${stamp()} ${line}`)

/** The requests the page sends on load (src/dashboard/static/dashboard.js), minus /api/me (keys only). */
const PAGE_REQUESTS: { name: string; path: string; ranged: boolean }[] = [
  ...['summary', 'timeseries', 'final-connections', 'success-attempts', 'start-rtt', 'latency', 'latest'].map(
    (name) => ({ name, path: `/api/${name}`, ranged: true }),
  ),
  { name: 'health', path: '/api/health', ranged: false },
  ...BREAKDOWN_DIMENSIONS.map((by) => ({
    name: `breakdown ${by}`,
    path: `/api/breakdown?by=${by}`,
    ranged: true,
  })),
]

interface Scenario {
  name: string
  /** The page's URL query (`range=7d`) and the JSON endpoints' (`since=7d`). */
  range: string
  key?: string
}

interface Timing {
  p50: number
  max: number
}

/** Milliseconds from navigation start. */
interface BrowserTimings {
  firstPaint: Timing
  /** The last answer of a JSON endpoint received. */
  data: Timing
  /** Every chart drawn. */
  ready: Timing
  /** CPU time of Chromium's own processes from navigation to every chart drawn. */
  browserCpu: Timing
}

interface ScenarioResult {
  scenario: Scenario
  /** Results in the range, from /api/summary. */
  results: number
  endpoints: Map<string, Timing>
  /** All page requests at once over 6 connections, first request to last answer. */
  page: Timing
  browser?: BrowserTimings
  cpu: CpuShares | undefined
}

const timing = (values: number[]): Timing => {
  const s = summarize(values)
  return { p50: s.p50, max: s.max }
}

/** A browser opens at most 6 HTTP/1.1 connections to one host; the page's requests share them. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 6 })

function get(base: string, path: string, key: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${base}${path}`,
      { agent, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode === 200) resolve(body)
          else reject(new Error(`${path}: ${res.statusCode} ${body}`))
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
  })
}

const withRange = (path: string, s: Scenario) => `${path}${path.includes('?') ? '&' : '?'}since=${s.range}`

async function measureScenario(base: string, s: Scenario, postmaster: number | undefined) {
  const requestPath = (r: (typeof PAGE_REQUESTS)[number]) => (r.ranged ? withRange(r.path, s) : r.path)
  const cpuFrom = cpuSnapshot(postmaster)
  const endpoints = new Map<string, Timing>()
  for (const r of PAGE_REQUESTS) {
    await get(base, requestPath(r), s.key) // untimed: plans and pages cached, as on a server in use
    const times: number[] = []
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now()
      await get(base, requestPath(r), s.key)
      times.push(performance.now() - t0)
    }
    endpoints.set(r.name, timing(times))
    log(`  ${s.name}: ${r.name} p50 ${ms(endpoints.get(r.name)!.p50)} ms`)
  }
  const pageTimes: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await Promise.all(PAGE_REQUESTS.map((r) => get(base, requestPath(r), s.key)))
    pageTimes.push(performance.now() - t0)
  }
  const cpu = cpuShares(cpuFrom, cpuSnapshot(postmaster))
  const summary = JSON.parse(await get(base, withRange('/api/summary', s), s.key)) as { results: number }
  log(`  ${s.name}: all ${PAGE_REQUESTS.length} requests together p50 ${ms(timing(pageTimes).p50)} ms`)
  return { results: summary.results, endpoints, page: timing(pageTimes), cpu }
}

/**
 * CPU time (ms) of the running Chromium processes so far (Linux /proc; USER_HZ is 100): on a
 * machine the browser shares with the server, it competes with the queries.
 */
function chromiumCpuMs(): number {
  let ticks = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.includes('chromium')) continue
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks * 10
}

/** The page in headless Chromium: first contentful paint, its data in, every chart drawn. */
async function measureBrowser(base: string, scenarios: Scenario[]) {
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  })
  try {
    const out = new Map<string, BrowserTimings>()
    for (const s of scenarios) {
      const paints: number[] = []
      const data: number[] = []
      const readies: number[] = []
      const cpus: number[] = []
      for (let i = 0; i <= runs; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
        const page = await context.newPage()
        // The page sets body[data-state] to "ready" once every chart is drawn; note when. The
        // script runs before the document has an element, so it watches the document itself.
        await page.addInitScript(() => {
          const g = globalThis as unknown as {
            __readyAt?: number
            document: { body: { dataset: Record<string, string> } | null }
            MutationObserver: new (cb: () => void) => { observe(node: object, options: object): void }
          }
          new g.MutationObserver(() => {
            if (g.__readyAt === undefined && g.document.body?.dataset.state === 'ready')
              g.__readyAt = performance.now()
          }).observe(g.document, { attributes: true, subtree: true, attributeFilter: ['data-state'] })
        })
        const hash = s.key === undefined ? '' : `#key=${encodeURIComponent(s.key)}`
        const cpu0 = chromiumCpuMs()
        await page.goto(`${base}/?range=${s.range}${hash}`)
        await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 300_000 })
        const cpu = chromiumCpuMs() - cpu0
        const got = await page.evaluate(() => {
          const g = globalThis as unknown as {
            __readyAt?: number
            document: { body: { dataset: Record<string, string> } }
          }
          return {
            state: g.document.body.dataset.state,
            ready: g.__readyAt ?? Number.NaN,
            paint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
            data: Math.max(
              ...performance
                .getEntriesByType('resource')
                .filter((e) => e.name.includes('/api/'))
                .map((e) => (e as unknown as { responseEnd: number }).responseEnd),
            ),
          }
        })
        await context.close()
        if (got.state !== 'ready') throw new Error(`the page showed an error (${s.name})`)
        if (i === 0) continue // untimed, like the first request of each endpoint
        paints.push(got.paint)
        data.push(got.data)
        readies.push(got.ready)
        cpus.push(cpu)
      }
      out.set(s.name, {
        firstPaint: timing(paints),
        data: timing(data),
        ready: timing(readies),
        browserCpu: timing(cpus),
      })
      log(
        `  browser, ${s.name}: first paint ${ms(timing(paints).p50)} ms, charts drawn ${ms(timing(readies).p50)} ms`,
      )
    }
    return out
  } finally {
    await browser.close()
  }
}

/**
 * What the migrations after the first add: their tables (what the dashboard reads instead of
 * raw rows) and their indexes on the tables of the first.
 */
function laterSchema(): { tables: string[]; indexes: string[] } {
  const statements = readMigrations()
    .slice(1)
    .flatMap((m) => splitStatements(m.sql))
  const tables = statements
    .map((s) => /^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)/i.exec(s)?.[1]?.toLowerCase())
    .filter((t): t is string => t !== undefined)
  const indexes = statements
    .map((s) => /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+([a-z_][a-z0-9_]*)\s+ON\s+([a-z_][a-z0-9_]*)/i.exec(s))
    .filter((m): m is RegExpExecArray => m !== null && !tables.includes(m[2]!.toLowerCase()))
    .map((m) => m[1]!.toLowerCase())
  return { tables, indexes }
}

async function schemaFacts(db: Database) {
  const { tables, indexes } = laterSchema()
  const out: { name: string; rows?: number; size: string }[] = []
  for (const table of tables) {
    const [row] = await db.query<{ rows: string | number; size: string }>(
      `SELECT count(*) AS rows, pg_size_pretty(pg_total_relation_size('${table}')) AS size FROM ${table}`,
    )
    out.push({ name: table, rows: Number(row!.rows), size: row!.size })
  }
  for (const index of indexes) {
    const [row] = await db.query<{ size: string }>(
      `SELECT pg_size_pretty(pg_relation_size('${index}')) AS size`,
    )
    out.push({ name: index, size: row!.size })
  }
  return out
}

const cell = (t: Timing | undefined) => (t === undefined ? '–' : `${ms(t.p50)} / ${ms(t.max)}`)

function markdown(r: {
  version: string
  migrations: { name: string; seconds: number }[]
  seedSeconds: number
  vacuumSeconds: number
  dbSize: string
  schema: { name: string; rows?: number; size: string }[]
  results: ScenarioResult[]
  browserNote: string | undefined
}): string {
  const scenarios = r.results
  const head = `| | ${scenarios.map((s) => `${s.scenario.name} p50 / max ms`).join(' | ')} |`
  const rule = `|---|${scenarios.map(() => '--:|').join('')}`
  const rows = [
    `| results in the range | ${scenarios.map((s) => int(s.results)).join(' | ')} |`,
    ...PAGE_REQUESTS.map(
      (q) => `| \`${q.path}\` | ${scenarios.map((s) => cell(s.endpoints.get(q.name))).join(' | ')} |`,
    ),
    `| **all ${PAGE_REQUESTS.length} requests together** (6 connections, as a browser) | ${scenarios.map((s) => `**${cell(s.page)}**`).join(' | ')} |`,
  ]
  if (scenarios.some((s) => s.browser !== undefined)) {
    rows.push(
      `| Chromium: first contentful paint | ${scenarios.map((s) => cell(s.browser?.firstPaint)).join(' | ')} |`,
      `| Chromium: last data answer received | ${scenarios.map((s) => cell(s.browser?.data)).join(' | ')} |`,
      `| **Chromium: every chart drawn** (navigation start to body[data-state=ready]) | ${scenarios.map((s) => `**${cell(s.browser?.ready)}**`).join(' | ')} |`,
      `| Chromium's own CPU time meanwhile, on the same ${cpus().length} cores | ${scenarios.map((s) => cell(s.browser?.browserCpu)).join(' | ')} |`,
    )
  }
  const cpu = scenarios
    .map((s) =>
      s.cpu === undefined
        ? ''
        : `${s.scenario.name}: ${s.cpu.machine.toFixed(1)} cores busy, ${s.cpu.others.toFixed(1)} of them other processes`,
    )
    .filter((t) => t !== '')
    .join('; ')
  const m = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown CPU', mem: totalmem() / 2 ** 30 }
  return [
    HEADING,
    '',
    'Command: `npm run bench -- --dashboard` (≈ 15 minutes; `--quick`: 100 k results, `--no-browser`, `--runs <n>`). Source: `bench/dashboard-main.ts`.',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${m.cores} cores (${m.cpu}), ${m.mem.toFixed(0)} GiB RAM, Node ${process.version}; ${r.version.split(',')[0]} (throw-away cluster of test/support/postgres.ts; the dashboard's pool of 10 connections).`,
    '',
    `Data set: bench/seed.ts (the server benchmark's) with ${int(size.results)} hole_punch_results over the last ${size.days} days, each with its attempts, address links and latency rows, from ${int(size.clientHosts)} client hosts on ${size.authorizations} API keys to ${int(size.candidates + size.historicRemotes)} remotes; seeded on the first migration in ${r.seedSeconds.toFixed(0)} s. ` +
      (r.migrations.length === 0
        ? ''
        : `Then the later migrations, as on an upgrade of a full database: ${r.migrations.map((x) => `${x.name} ${x.seconds.toFixed(1)} s`).join(', ')}. `) +
      `Then VACUUM ANALYZE (${r.vacuumSeconds.toFixed(0)} s; what autovacuum does on its own). Database size ${r.dbSize}` +
      (r.schema.length === 0
        ? '.'
        : `; what the later migrations added: ${r.schema.map((t) => `${t.name} ${t.rows === undefined ? '' : `${int(t.rows)} rows, `}${t.size}`).join('; ')}.`),
    '',
    `Every figure: ${runs} timed runs after one untimed, p50 / max in ms, client-side. Endpoints one after another; then all of the page's ${PAGE_REQUESTS.length} requests at once over at most 6 connections (what a browser allows per host). ` +
      'Ranges as the page asks for them (`?since=7d`, the default, and `?since=30d`: the whole data set); "one key" is my results (`Authorization: Bearer`) of one of the API keys.' +
      (r.browserNote === undefined ? '' : ` ${r.browserNote}`),
    '',
    head,
    rule,
    ...rows,
    '',
    `CPU during each column's measurements (machine-wide, in cores): ${cpu}. The machine is shared with other work, so figures vary from run to run.`,
    '',
  ].join('\n')
}

const cleanups: (() => Promise<void>)[] = []
async function cleanUp() {
  while (cleanups.length > 0) await cleanups.pop()!().catch((err) => console.error('cleanup failed:', err))
}
process.on('SIGINT', () => void cleanUp().finally(() => process.exit(130)))

try {
  const cluster = await startPostgres()
  cleanups.push(() => cluster.stop())
  const db = await openDatabase({ databaseUrl: cluster.url, poolSize: 10 })
  cleanups.push(async () => {
    await db.close()
    // Let the pool's connections finish closing before the cluster goes away.
    await new Promise((resolve) => setTimeout(resolve, 300))
  })
  const version = (await db.query<{ version: string }>('SELECT version()'))[0]!.version
  log(`${version.split(',')[0]} in ${cluster.dir}`)

  const all = readMigrations()
  await migrate(db, all.slice(0, 1))
  log(`seeding ${int(size.results)} results …`)
  const seeded = await seed(db, size, (line) => log(line))
  const migrations: { name: string; seconds: number }[] = []
  for (const m of all.slice(1)) {
    const t0 = performance.now()
    await migrate(db, all.slice(0, m.version))
    migrations.push({
      name: `${String(m.version).padStart(4, '0')}_${m.name}`,
      seconds: (performance.now() - t0) / 1000,
    })
    log(`migration ${migrations.at(-1)!.name} in ${migrations.at(-1)!.seconds.toFixed(1)} s`)
  }
  const t0 = performance.now()
  await db.query('VACUUM ANALYZE')
  const vacuumSeconds = (performance.now() - t0) / 1000
  log(`VACUUM ANALYZE in ${vacuumSeconds.toFixed(1)} s`)
  const dbSize = (
    await db.query<{ size: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS size')
  )[0]!.size
  const schema = await schemaFacts(db)

  const dashboard = createDashboard(db)
  const server = http.createServer((req, res) => {
    void dashboard(req, res).then((served) => {
      if (!served) res.writeHead(404).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        agent.destroy()
        server.close(() => resolve())
      }),
  )
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const postmaster = postmasterPid(join(cluster.dir, 'data'))

  const scenarios: Scenario[] = [
    { name: '7 days', range: '7d' },
    { name: '30 days', range: '30d' },
    { name: '7 days, one key', range: '7d', key: seeded.hosts[0]!.apiKey },
  ]
  const results: ScenarioResult[] = []
  for (const s of scenarios) {
    results.push({ scenario: s, ...(await measureScenario(base, s, postmaster)) })
  }
  let browserNote: string | undefined
  if (browserWanted && existsSync(CHROMIUM)) {
    const browser = await measureBrowser(base, scenarios)
    for (const r of results) r.browser = browser.get(r.scenario.name)
    browserNote =
      "Chromium: Debian chromium, headless, a fresh context per load (no cache), times from navigation start (performance.now()); on the same machine as the server and PostgreSQL, so the browser's own work (its CPU time is listed) slows the queries down, unlike a visitor's browser on their own machine."
  } else if (browserWanted) {
    log(`no Chromium at ${CHROMIUM}: the page itself is not measured`)
  }
  const section = markdown({
    version,
    migrations,
    seedSeconds: seeded.totalSeconds,
    vacuumSeconds,
    dbSize,
    schema,
    results,
    browserNote,
  })
  console.log(`\n${section}`)
  if (write) log(`wrote ${writeDocs(section, HEADING)}`)
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await cleanUp()
}
