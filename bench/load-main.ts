import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { create, toBinary } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { ApiClient } from '../src/client/api-client.js'
import { classifyApiError } from '../src/client/api-errors.js'
import { backoffDelay, sleep } from '../src/client/backoff.js'
import { ReportQueue } from '../src/client/report-queue.js'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { GetAddrInfoRequestSchema, TrackHolePunchRequestSchema } from '../src/gen/punchr_pb.js'
import type { ResourceUsage } from '../src/lab/campaign/resources.js'
import { type PostgresCluster, startPostgres } from '../test/support/postgres.js'
import { benchFlags, type DbKind, databaseKinds, positiveNumber } from './args.js'
import {
  buildReport,
  type PreparedHost,
  type PreparedRemote,
  prepareHost,
  prepareRemote,
} from './load-worker.js'
import { writeDocs } from './report.js'
import { FULL_SIZE, refreshCandidates, type SeedSize, sampleRemotes, seed } from './seed.js'
import { ServerProcess, waitHealthy } from './server-process.js'
import { int, ms, type Summary, summarize } from './stats.js'

const USAGE = `npm run bench -- --load [options]

Many simulated clients against one real server process (\`punchr server\`) for minutes, with
faults: PostgreSQL restarted and the server killed (SIGKILL) and started again mid-load. Each
client is what \`punchr client\` runs, without libp2p: its hosts register, ask GetAddrInfo,
"punch" for a while and put a realistic report into the client's on-disk queue, which sends it
(and resends it after errors). In the end every report queued must be stored exactly once.

  --clients <n>          client hosts (default 1000)
  --keys <n>             API keys = client processes, each with its own queue (default 100)
  --minutes <m>          load duration (default 5)
  --round-seconds <s>    mean time a host spends on one round (default 15)
  --db pglite|postgres   only this database (default: both)
  --no-faults            no PostgreSQL restart, no server kill
  --quick                200 hosts on 20 keys for 1 minute (smoke run)
  --write / --no-write   write docs/benchmarks.md (default: only a full run of both databases)
`

const values = benchFlags(
  {
    load: { type: 'boolean' },
    clients: { type: 'string' },
    keys: { type: 'string' },
    minutes: { type: 'string' },
    'round-seconds': { type: 'string' },
    db: { type: 'string', multiple: true },
    'no-faults': { type: 'boolean' },
    quick: { type: 'boolean', default: false },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean' },
  },
  USAGE,
)
const positive = (text: string | undefined, fallback: number, name: string) =>
  positiveNumber(text, fallback, name, USAGE)
const quick = values.quick
const hostCount = Math.round(positive(values.clients, quick ? 200 : 1_000, '--clients'))
const keyCount = Math.round(positive(values.keys, quick ? 20 : 100, '--keys'))
const loadMs = positive(values.minutes, quick ? 1 : 5, '--minutes') * 60_000
const roundMs = positive(values['round-seconds'], 15, '--round-seconds') * 1_000
const faults = values['no-faults'] !== true
const dbs = databaseKinds(values.db, ['postgres', 'pglite'], USAGE)
const write = values['no-write'] === true ? false : (values.write ?? (!quick && dbs.length === 2))
if (keyCount > hostCount) {
  console.error('--keys must not exceed --clients')
  process.exit(2)
}

/** Faults, as shares of the load duration. */
const POSTGRES_RESTART_AT = 0.35
const POSTGRES_DOWN_MS = 5_000
const SERVER_KILL_AT = 0.65
const SERVER_DOWN_MS = 3_000
/** What the real client does (RoundLoopOptions defaults). */
const NOT_FOUND_WAIT_MS = 30_000
const RETRY = { initial: 1_000, max: 30_000 }
const DRAIN_TIMEOUT_MS = 10 * 60_000

const started = performance.now()
const stamp = () => `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s]`
const log = (line: string) => console.log(`${stamp()} ${line}`)

// ---- cleanup, also on Ctrl-C -----------------------------------------------------------------
const cleanups: (() => Promise<void>)[] = []
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch((err) => console.error('cleanup failed:', err))
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the server, removing temp data and the PostgreSQL cluster …`)
    void cleanUp().finally(() => process.exit(130))
  })
}

// ---- the server process --------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

// ---- figures -----------------------------------------------------------------------------

interface CallFigures {
  latencies: number[]
  ok: number
  errors: Record<string, number>
}
const newCalls = (): CallFigures => ({ latencies: [], ok: 0, errors: {} })

interface Fault {
  name: string
  /** ms since the load started. */
  at: number
  /** When the fault was undone (service back), ms since the load started. */
  undoneAt: number
  /** First successful GetAddrInfo / stored report after it was undone, ms since the load started. */
  firstAllocationAfter?: number
  firstReportAfter?: number
}

interface LoadRun {
  kind: DbKind
  hosts: number
  keys: number
  loadSeconds: number
  registered: number
  getAddrInfo: CallFigures
  trackHolePunch: CallFigures
  notFound: number
  queued: number
  stored: number
  distinctHashes: number
  rejected: number
  leftInQueues: number
  maxBacklog: number
  drainSeconds: number
  faults: Fault[]
  servers: (ResourceUsage | undefined)[]
  storedPerMinute: number[]
}

function codeOf(err: unknown): string {
  if (err instanceof ConnectError) return Code[err.code] ?? String(err.code)
  return classifyApiError(err).code
}

function record(figures: CallFigures, t0: number, err?: unknown): void {
  if (err === undefined) {
    figures.ok++
    figures.latencies.push(performance.now() - t0)
  } else {
    const code = codeOf(err)
    figures.errors[code] = (figures.errors[code] ?? 0) + 1
  }
}

// ---- one database -------------------------------------------------------------------------

async function runDb(kind: DbKind): Promise<LoadRun> {
  console.log(`\n==== ${kind}: ${int(hostCount)} hosts on ${keyCount} keys for ${loadMs / 60_000} min ====`)
  const root = mkdtempSync(join(tmpdir(), `punchr-load-${kind}-`))
  cleanups.push(async () => rmSync(root, { recursive: true, force: true }))
  let cluster: PostgresCluster | undefined
  let dbArgs: string[]
  const openDb = (): Promise<Database> =>
    cluster === undefined
      ? openDatabase({ dataDir: join(root, 'pglite') })
      : openDatabase({ databaseUrl: cluster.url })
  if (kind === 'postgres') {
    cluster = await startPostgres()
    const c = cluster
    cleanups.push(() => c.stop())
    dbArgs = ['--database-url', cluster.url]
  } else {
    dbArgs = ['--data-dir', join(root, 'pglite')]
  }

  // Seed the allocation working set (100 k candidates) and the hosts; no results yet.
  const size: SeedSize = { ...FULL_SIZE, clientHosts: hostCount, authorizations: keyCount, results: 0 }
  let db = await openDb()
  await migrate(db)
  log('seeding candidates and hosts …')
  const seeded = await seed(db, size, () => undefined)
  const samples = await sampleRemotes(db, seeded.layout, size.candidates)
  const remotes = new Map<string, PreparedRemote>(
    samples.map((r) => {
      const prepared = prepareRemote(r)
      return [Buffer.from(prepared.bytes).toString('base64'), prepared]
    }),
  )
  // Every candidate seen in the last 2 minutes: none ages out of the 10-minute window meanwhile.
  await refreshCandidates(db)
  await db.close()
  log(
    `seeded in ${seeded.totalSeconds.toFixed(0)} s: ${int(size.candidates)} candidates, ${int(hostCount)} hosts`,
  )

  const [port, httpPort] = [await freePort(), await freePort()]
  const serverArgs = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    ...dbArgs,
  ]
  const servers: ServerProcess[] = []
  const startServer = async () => {
    const server = new ServerProcess(serverArgs)
    servers.push(server)
    await waitHealthy(httpPort)
    if (server.child.exitCode !== null)
      throw new Error(`punchr server exited with ${server.child.exitCode} (see its log above)`)
    return server
  }
  let server = await startServer()
  cleanups.push(async () => {
    const last = servers.at(-1)
    if (last !== undefined && last.child.exitCode === null) {
      last.child.kill('SIGKILL')
      await last.exited
    }
  })

  // ---- the simulated clients ---------------------------------------------------------------
  const stop = new AbortController()
  const loadStart = performance.now()
  const sinceStart = () => performance.now() - loadStart
  const getAddrInfo = newCalls()
  const trackHolePunch = newCalls()
  const faultLog: Fault[] = []
  let notFound = 0
  let registered = 0
  let queued = 0
  let seq = 0
  const storedAt: number[] = []
  const byKey = new Map<string, PreparedHost[]>()
  for (const h of seeded.hosts) {
    const prepared = prepareHost({
      peerId: h.peer.id,
      apiKey: h.apiKey,
      group: h.group.map((p) => p.id),
      listenAddrs: h.listenAddrs,
    })
    byKey.set(h.apiKey, [...(byKey.get(h.apiKey) ?? []), prepared])
  }
  const afterFault = (field: 'firstAllocationAfter' | 'firstReportAfter') => {
    const now = sinceStart()
    for (const f of faultLog) if (f[field] === undefined && now >= f.undoneAt) f[field] = now
  }

  const clients = await Promise.all(
    [...byKey.entries()].map(async ([apiKey, hosts], i) => {
      const api = new ApiClient({ server: `127.0.0.1:${port}`, tls: false, tlsSkipVerify: false })
      const queue = await ReportQueue.open({
        dir: join(root, 'queues', `client-${i}`),
        send: async (report, signal) => {
          const t0 = performance.now()
          try {
            await api.trackHolePunchBytes(report, signal)
          } catch (err) {
            record(trackHolePunch, t0, err)
            throw err
          }
          record(trackHolePunch, t0)
          storedAt.push(sinceStart())
          afterFault('firstReportAfter')
        },
      })
      queue.start()
      return { apiKey, hosts, api, queue }
    }),
  )

  /** One host's rounds, as RoundLoop runs them: register, then GetAddrInfo → punch → report. */
  const runHost = async (client: (typeof clients)[number], host: PreparedHost) => {
    const signal = stop.signal
    let failures = 0
    // Spread the start over one round so that hosts do not march in step.
    await sleep(Math.random() * roundMs, signal)
    while (!signal.aborted) {
      try {
        await client.api.register(
          { clientId: host.bytes, agentVersion: 'punchr/load-bench', protocols: [], apiKey: client.apiKey },
          signal,
        )
        registered++
        break
      } catch (err) {
        if (classifyApiError(err).kind === 'permanent') throw err
        await sleep(backoffDelay(++failures, RETRY), signal)
      }
    }
    failures = 0
    while (!signal.aborted) {
      const t0 = performance.now()
      let remoteId: Uint8Array
      try {
        const res = await client.api.getAddrInfo(
          create(GetAddrInfoRequestSchema, {
            hostId: host.bytes,
            allHostIds: host.group,
            apiKey: client.apiKey,
          }),
          signal,
        )
        remoteId = res.remoteId
      } catch (err) {
        if (signal.aborted) return
        if (err instanceof ConnectError && err.code === Code.NotFound) {
          notFound++
          await sleep(NOT_FOUND_WAIT_MS, signal)
          continue
        }
        record(getAddrInfo, t0, err)
        if (classifyApiError(err).kind === 'permanent') throw err
        await sleep(backoffDelay(++failures, RETRY), signal)
        continue
      }
      record(getAddrInfo, t0)
      afterFault('firstAllocationAfter')
      failures = 0
      const remote = remotes.get(Buffer.from(remoteId).toString('base64'))
      if (remote === undefined) throw new Error('GetAddrInfo handed out a remote that was never a candidate')
      // The punch itself: a relayed connection, up to 3 attempts, pings.
      await sleep(roundMs * (0.5 + Math.random()), signal)
      if (signal.aborted) return
      const report = buildReport(host, remote, seq++)
      await client.queue.enqueue(toBinary(TrackHolePunchRequestSchema, report))
      queued++
    }
  }

  // ---- faults --------------------------------------------------------------------------------
  const faultsDone = (async () => {
    if (!faults) return
    const wait = (share: number) => sleep(Math.max(0, share * loadMs - sinceStart()), stop.signal)
    if (cluster !== undefined) {
      await wait(POSTGRES_RESTART_AT)
      const fault: Fault = {
        name: 'PostgreSQL stopped, started again',
        at: sinceStart(),
        undoneAt: Number.POSITIVE_INFINITY,
      }
      faultLog.push(fault)
      log(`fault: PostgreSQL stopped for ${POSTGRES_DOWN_MS / 1000} s`)
      await cluster.stopServer()
      await sleep(POSTGRES_DOWN_MS)
      await cluster.startServer()
      fault.undoneAt = sinceStart()
      log('fault: PostgreSQL started again')
    }
    await wait(SERVER_KILL_AT)
    const fault: Fault = {
      name: 'server killed (SIGKILL), started again',
      at: sinceStart(),
      undoneAt: Number.POSITIVE_INFINITY,
    }
    faultLog.push(fault)
    server.stopSampling()
    server.child.kill('SIGKILL')
    await server.exited
    log(`fault: server killed (SIGKILL); starting it again in ${SERVER_DOWN_MS / 1000} s`)
    await sleep(SERVER_DOWN_MS)
    server = await startServer()
    fault.undoneAt = sinceStart()
    log('fault: server running again')
  })()

  const progress = setInterval(() => {
    const backlog = clients.reduce((n, c) => n + c.queue.depth.reports, 0)
    const errors = Object.entries({ ...getAddrInfo.errors })
      .map(([c, n]) => `${c} ${n}`)
      .join(', ')
    log(
      `hosts registered ${registered}/${hostCount} · GetAddrInfo ${int(getAddrInfo.ok)} ok${errors === '' ? '' : ` (errors: ${errors})`} · reports queued ${int(queued)}, stored ${int(trackHolePunch.ok)}, backlog ${backlog}`,
    )
  }, 15_000)
  let maxBacklog = 0
  const backlogSampler = setInterval(() => {
    maxBacklog = Math.max(
      maxBacklog,
      clients.reduce((n, c) => n + c.queue.depth.reports, 0),
    )
  }, 1_000)

  const hostLoops = clients.flatMap((c) => c.hosts.map((h) => runHost(c, h)))
  await sleep(loadMs)
  stop.abort()
  const loopResults = await Promise.allSettled(hostLoops)
  await faultsDone
  const loopFailure = loopResults.find((r) => r.status === 'rejected')
  if (loopFailure !== undefined) throw (loopFailure as PromiseRejectedResult).reason
  const loadSeconds = sinceStart() / 1000
  log(`load stopped after ${loadSeconds.toFixed(0)} s; draining the queues …`)

  const drainStart = performance.now()
  const drained = await Promise.all(clients.map((c) => c.queue.drain(DRAIN_TIMEOUT_MS)))
  const drainSeconds = (performance.now() - drainStart) / 1000
  clearInterval(progress)
  clearInterval(backlogSampler)
  const leftInQueues = clients.reduce((n, c) => n + c.queue.depth.reports, 0)
  await Promise.all(clients.map((c) => c.queue.stop()))
  for (const c of clients) c.api.close()
  const rejected = clients.reduce((n, c) => {
    try {
      return n + readdirSync(join(c.queue.dir, 'rejected')).filter((f) => !f.endsWith('.reason.json')).length
    } catch {
      return n
    }
  }, 0)
  if (!drained.every(Boolean))
    log(`${leftInQueues} reports still queued after ${DRAIN_TIMEOUT_MS / 60_000} min`)

  // Stop the server the way an operator does, then count what the database holds.
  server.stopSampling()
  server.child.kill('SIGTERM')
  await server.exited
  db = await openDb()
  const [counts] = await db.query<{ n: string | number; distinct: string | number }>(
    'SELECT count(*) AS n, count(DISTINCT report_sha256) AS distinct FROM hole_punch_results',
  )
  await db.close()

  const minutes = Math.ceil(loadSeconds / 60)
  const storedPerMinute = Array.from(
    { length: minutes },
    (_, m) => storedAt.filter((t) => t >= m * 60_000 && t < (m + 1) * 60_000).length,
  )
  return {
    kind,
    hosts: hostCount,
    keys: keyCount,
    loadSeconds,
    registered,
    getAddrInfo,
    trackHolePunch,
    notFound,
    queued,
    stored: Number(counts!.n),
    distinctHashes: Number(counts!.distinct),
    rejected,
    leftInQueues,
    maxBacklog,
    drainSeconds,
    faults: faultLog,
    servers: servers.map((s) => s.usage),
    storedPerMinute,
  }
}

// ---- report -------------------------------------------------------------------------------

const LOAD_HEADING = '## Load: 1 000 clients for minutes, with faults'

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors)
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${int(n)} ${code}`).join(', ')
}

function sumErrors(all: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {}
  for (const errors of all) for (const [code, n] of Object.entries(errors)) sum[code] = (sum[code] ?? 0) + n
  return sum
}

function latencyText(s: Summary): string {
  return `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}`
}

function seconds(msSinceStart: number | undefined, from: number): string {
  return msSinceStart === undefined ? 'never' : `${((msSinceStart - from) / 1000).toFixed(1)} s`
}

function runTable(runs: LoadRun[]): string {
  const name = (r: LoadRun) => (r.kind === 'pglite' ? 'PGlite (disk)' : 'PostgreSQL')
  const row = (label: string, cell: (r: LoadRun) => string) => `| ${label} | ${runs.map(cell).join(' | ')} |`
  const faultNames = [...new Set(runs.flatMap((r) => r.faults.map((f) => f.name)))]
  return [
    `| | ${runs.map(name).join(' | ')} |`,
    `|---|${runs.map(() => '--:|').join('')}`,
    row('hosts registered / on API keys', (r) => `${int(r.registered)} / ${r.keys}`),
    row('load duration', (r) => `${r.loadSeconds.toFixed(0)} s`),
    row('GetAddrInfo answered (NOT_FOUND)', (r) => `${int(r.getAddrInfo.ok)} (${int(r.notFound)})`),
    row('GetAddrInfo errors', (r) => errorsText(r.getAddrInfo.errors)),
    row('GetAddrInfo p50 / p99 / max ms', (r) => latencyText(summarize(r.getAddrInfo.latencies))),
    row('**reports queued by the clients**', (r) => `**${int(r.queued)}**`),
    row(
      '**reports stored** (distinct report hashes)',
      (r) => `**${int(r.stored)}** (${int(r.distinctHashes)})`,
    ),
    row('stored = queued, each once', (r) =>
      r.stored === r.queued && r.distinctHashes === r.stored ? 'yes' : '**no**',
    ),
    row('reports set aside as rejected / left in queues', (r) => `${r.rejected} / ${r.leftInQueues}`),
    row('TrackHolePunch sends that failed (resent later)', (r) => errorsText(r.trackHolePunch.errors)),
    row('TrackHolePunch p50 / p99 / max ms', (r) => latencyText(summarize(r.trackHolePunch.latencies))),
    row('reports stored per minute', (r) => r.storedPerMinute.map(int).join(' · ')),
    row('largest backlog in all queues together', (r) => int(r.maxBacklog)),
    row('queues empty after the load stopped', (r) => `${r.drainSeconds.toFixed(1)} s`),
    ...faultNames.map((fault) =>
      row(`${fault}: back after → first allocation / first report`, (r) => {
        const f = r.faults.find((x) => x.name === fault)
        if (f === undefined) return '–'
        return `${((f.undoneAt - f.at) / 1000).toFixed(1)} s → ${seconds(f.firstAllocationAfter, f.undoneAt)} / ${seconds(f.firstReportAfter, f.undoneAt)}`
      }),
    ),
    row('server CPU (mean, % of a core), per process run', (r) =>
      r.servers.map((u) => (u === undefined ? '?' : `${u.cpuPercent.toFixed(0)} %`)).join(', '),
    ),
    row('server RSS mean / peak MiB, per process run', (r) =>
      r.servers
        .map((u) => (u === undefined ? '?' : `${u.rssMeanMiB.toFixed(0)} / ${u.rssPeakMiB.toFixed(0)}`))
        .join(', '),
    ),
  ].join('\n')
}

function docsSection(runs: LoadRun[], args: string[]): string {
  return [
    LOAD_HEADING,
    '',
    `Command: \`npm run bench -- --load${args.length > 0 ? ` ${args.join(' ')}` : ''}\` (\`--quick\`: 200 hosts for 1 minute). Source: \`bench/load-main.ts\`. ` +
      'The suite runs the same at small scale (test/integration/load-faults.test.ts, server-kill campaign in test/e2e/lab-campaign.test.ts).',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}. ` +
      `The real server (\`punchr server\`, its own process, pool of 10 on PostgreSQL) with ${int(FULL_SIZE.candidates)} allocation candidates seeded; ${int(hostCount)} client hosts on ${keyCount} API keys, simulated in one process: per key one real report queue (on disk, the client's backoff) and one API client (one HTTP/2 connection), ` +
      `per host the round loop of \`punchr client\` without libp2p: Register, then GetAddrInfo, a "punch" of ${roundMs / 1000} s on average, a realistic report into the queue (3 attempts, addresses, latencies, NAT mapping; about the remote handed out), the client's retry and NOT_FOUND waits. ` +
      (faults
        ? `Faults: at ${POSTGRES_RESTART_AT * 100} % of the load PostgreSQL is stopped for ${POSTGRES_DOWN_MS / 1000} s (PostgreSQL only); at ${SERVER_KILL_AT * 100} % the server process is killed with SIGKILL and started again after ${SERVER_DOWN_MS / 1000} s. `
        : 'No faults (--no-faults). ') +
      'After the load the queues drain, the server is stopped with SIGTERM and the rows are counted.',
    '',
    runTable(runs),
    '',
    `Errors clients saw: ${errorsText(sumErrors(runs.flatMap((r) => [r.getAddrInfo.errors, r.trackHolePunch.errors])))} (calls, both RPCs, both databases) — ` +
      'all of them the transient back-pressure of docs/ARCHITECTURE.md (UNAVAILABLE from a server without its database or from no server at all, ABORTED/CANCELED for calls in flight when the server died), which the client retries and the queues resend; no report is lost or stored twice (TrackHolePunch is idempotent per report hash, ADR 0003).',
    '',
  ].join('\n')
}

try {
  const runs: LoadRun[] = []
  for (const kind of dbs) {
    const run = await runDb(kind)
    runs.push(run)
    await cleanUp()
    console.log(`\n${runTable([run])}\n`)
  }
  const ok = runs.every((r) => r.stored === r.queued && r.distinctHashes === r.stored && r.rejected === 0)
  if (!ok) {
    console.error('FAILED: stored reports differ from the reports queued (see the table)')
    process.exitCode = 1
  }
  if (write)
    console.log(
      `wrote ${writeDocs(
        docsSection(
          runs,
          process.argv.slice(2).filter((a) => a !== '--load'),
        ),
        LOAD_HEADING,
      )}`,
    )
  else
    console.log(
      'docs/benchmarks.md not written (only a full run of both databases writes it; --write forces it)',
    )
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await cleanUp()
}
