// `npm run bench -- --honeypot`: the honeypot under ≥ 10 000 inbound libp2p connections (issue 9:
// inbound connections recorded per second, memory after 10 k connections). Three processes
// per scenario, so that each figure belongs to one program:
//
//   this process (orchestrator) ── forks ──▶ honeypot process (the measured one: src/honeypot
//                                              on PGlite or PostgreSQL, or its libp2p node alone)
//                                                 ── forks ──▶ dialer processes (real js-libp2p
//                                                              peers with identify, on 127.0.0.1)
//
// Scenarios: the baseline (the honeypot's libp2p node without recorder, writer or database:
// what the connections cost libp2p itself), then the honeypot on PGlite and on a throw-away
// PostgreSQL. Every dialer identity is one of four kinds (what it advertises decides what the
// honeypot must do with it); each of its connections stays open until the honeypot's identify
// of it completed (the honeypot process tells the dialer), so the number of qualifying
// connections is known exactly, and the database must hold exactly the qualifying identities.
// Writes the "Honeypot" section of docs/benchmarks.md on a full run.
import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import {
  DEFAULT_INBOUND_RATE_PER_IP,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PENDING_INBOUND,
} from '../src/honeypot/constants.js'
import { Honeypot } from '../src/honeypot/honeypot.js'
import { createHoneypotNode } from '../src/honeypot/node.js'
import { createGeoLookup } from '../src/lib/geo.js'
import { quicTransport } from '../src/quic/transport.js'
import { relayAddr, visitor } from '../test/support/dht.js'
import { startPostgres } from '../test/support/postgres.js'
import { benchFlags, databaseKinds } from './args.js'
import { type CpuShares, cpuShares, cpuSnapshot, postmasterPid } from './cpu.js'
import { writeDocs } from './report.js'

const HEADING = '## Honeypot: inbound connections and memory'
const ROLE = process.env.PUNCHR_BENCH_HONEYPOT_ROLE
const SELF = fileURLToPath(import.meta.url)

const USAGE = `npm run bench -- --honeypot [options]

A real honeypot (src/honeypot) on 127.0.0.1 takes inbound libp2p connections from real
js-libp2p peers in dialer processes: on its libp2p node alone (baseline), on PGlite and on a
throw-away PostgreSQL. Measures connections/s, events and peers stored per second, CPU time,
and the honeypot process's memory after the flood against the same honeypot idle.

  --quick                 2 000 connections per scenario instead of 10 000 (does not write docs)
  --connections <n>       connections per scenario (default 10000)
  --per-identity <n>      connections each dialer identity makes, one after another (default 5)
  --dialers <n>           dialer processes (default 2)
  --lanes <n>             identities dialling at once in each dialer process (default 24)
  --db pglite|postgres    only this database (repeatable; default both)
  --no-baseline           skip the libp2p-node-only baseline
  --no-write              do not update docs/benchmarks.md`

// ---- identities ---------------------------------------------------------------------------------

/**
 * What a dialer identity advertises, by its index: half are NATed DCUtR peers with a relay
 * address (recorded, and allocation candidates), a tenth DCUtR peers with private addresses
 * only (recorded, no candidate: nothing to dial), a fifth DCUtR peers with a public address
 * (not recorded: no hole punch needed), a fifth without DCUtR (not recorded).
 */
type Kind = 'relay' | 'private' | 'public' | 'no-dcutr'
const KIND_CYCLE: Kind[] = [
  'relay',
  'private',
  'relay',
  'public',
  'relay',
  'no-dcutr',
  'relay',
  'public',
  'relay',
  'no-dcutr',
]
const kindOf = (index: number): Kind => KIND_CYCLE[index % KIND_CYCLE.length]!
/** Stored as a connection event (qualify.ts: DCUtR and no public direct address). */
const RECORDED: readonly Kind[] = ['relay', 'private']

function announce(kind: Kind, index: number, relayId: string): string[] {
  const lan = `/ip4/192.168.${(index >> 8) & 255}.${index & 255}/tcp/4001`
  if (kind === 'private') return [lan]
  if (kind === 'public')
    return [relayAddr(relayId, 1 + (index % 200)), `/ip4/11.1.${(index >> 8) & 255}.${index & 255}/tcp/4001`]
  return [relayAddr(relayId, 1 + (index % 200)), lan]
}

// ---- messages between the processes -------------------------------------------------------------

type Scenario = 'baseline' | 'pglite' | 'postgres'

interface HoneypotPlan {
  scenario: Scenario
  connections: number
  perIdentity: number
  dialers: number
  lanes: number
  idleMs: number
  databaseUrl?: string
  postgresDir?: string
}

interface DialerPlan {
  target: string
  relayId: string
  /** Global identity indexes this dialer runs. */
  first: number
  count: number
  perIdentity: number
  lanes: number
}

interface IdentityReport {
  peer: string
  kind: Kind
  /** Connections that opened and that the honeypot identified. */
  confirmed: number
  failed: number
  /** Opened, but the honeypot's identify never came within 30 s. */
  unconfirmed: number
}

interface DialerReport {
  identities: IdentityReport[]
  cpuSeconds: number
}

interface Memory {
  rss: number
  heapUsed: number
  external: number
}

interface ScenarioResult {
  scenario: Scenario
  database?: string
  connections: number
  failed: number
  unconfirmed: number
  dialSeconds: number
  /** From the first dial to every event stored. */
  storedSeconds: number
  byKind: Record<Kind, { identities: number; connections: number }>
  inbound: Record<string, number>
  events?: number
  eventPeers?: number
  candidates?: number
  deduplicated?: number
  dropped?: number
  transactions?: number
  checks: string[]
  honeypotCpuSeconds: number
  dialerCpuSeconds: number
  cpu: CpuShares | undefined
  idle: Memory
  peak: Memory
  after: Memory
  peerStoreAfter: number
}

// ---- dialer process -----------------------------------------------------------------------------

async function runDialer(plan: DialerPlan): Promise<void> {
  const target = multiaddr(plan.target)
  const waiting = new Map<string, () => void>()
  process.on('message', (message: { identified?: string; go?: boolean }) => {
    if (message.identified !== undefined) waiting.get(message.identified)?.()
  })
  const go = new Promise<void>((resolve) =>
    process.on('message', (message: { go?: boolean }) => {
      if (message.go === true) resolve()
    }),
  )
  process.send!({ ready: true })
  await go
  const started = process.cpuUsage()
  const reports: IdentityReport[] = []
  let next = 0
  const lane = async () => {
    while (next < plan.count) {
      const index = plan.first + next++
      const kind = kindOf(index)
      const node: Libp2p = await visitor({
        privateKey: await generateKeyPair('Ed25519'),
        dcutr: kind !== 'no-dcutr',
        announce: announce(kind, index, plan.relayId),
        agentVersion: `punchr-bench/${kind}`,
      })
      const report: IdentityReport = {
        peer: node.peerId.toString(),
        kind,
        confirmed: 0,
        failed: 0,
        unconfirmed: 0,
      }
      for (let i = 0; i < plan.perIdentity; i++) {
        // Registered before dialling: the honeypot may identify us before dial() returns here.
        let identified!: () => void
        const seen = new Promise<boolean>((resolve) => {
          identified = () => resolve(true)
          setTimeout(() => resolve(false), 30_000).unref()
        })
        waiting.set(report.peer, identified)
        let connection: Connection
        try {
          connection = await node.dial(target)
        } catch {
          report.failed++
          continue
        }
        if (await seen) report.confirmed++
        else report.unconfirmed++
        await connection.close().catch(() => undefined)
      }
      waiting.delete(report.peer)
      await node.stop()
      reports.push(report)
    }
  }
  await Promise.all(Array.from({ length: plan.lanes }, lane))
  const used = process.cpuUsage(started)
  const done: DialerReport = { identities: reports, cpuSeconds: (used.user + used.system) / 1e6 }
  process.send!({ done })
  process.disconnect()
}

// ---- honeypot process ---------------------------------------------------------------------------

v8.setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function memory(collect: boolean): Memory {
  if (collect) {
    gc()
    gc()
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external }
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

async function runHoneypot(plan: HoneypotPlan): Promise<ScenarioResult> {
  let db: Database | undefined
  let dataDir: string | undefined
  if (plan.scenario === 'pglite') {
    dataDir = mkdtempSync(join(tmpdir(), 'punchr-bench-honeypot-'))
    db = await openDatabase({ dataDir })
  } else if (plan.scenario === 'postgres') {
    db = await openDatabase({ databaseUrl: plan.databaseUrl!, poolSize: 10 })
  }
  if (db !== undefined) await migrate(db)
  const database =
    db === undefined
      ? undefined
      : (await db.query<{ v: string }>('SELECT version() AS v'))[0]!.v.split(',')[0]!
  // As `punchr honeypot` runs: the offline geo data loaded, looked up once per new address.
  const geo = createGeoLookup()
  await geo.ready()

  const config = {
    privateKey: await generateKeyPair('Ed25519'),
    listenHost: '127.0.0.1',
    port: 0,
    announce: [],
    quic: quicTransport,
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    maxPendingInbound: DEFAULT_MAX_PENDING_INBOUND,
    // Every dialer connects from 127.0.0.1: the per-IP limit (20/s in production) would
    // otherwise measure itself. Everything else is as in production.
    inboundRatePerIp: 1_000_000,
  }
  let node: Libp2p
  let honeypot: Honeypot | undefined
  if (db === undefined) {
    node = await createHoneypotNode({ ...config, agentVersion: 'punchr/honeypot/bench' })
    // As the honeypot does (forgetVisitor): visitors leave libp2p's peer store when they go.
    node.addEventListener('peer:disconnect', (evt: CustomEvent<PeerId>) => {
      if (node.getConnections(evt.detail).length === 0)
        void node.peerStore.delete(evt.detail).catch(() => undefined)
    })
    await node.start()
  } else {
    honeypot = await Honeypot.create(
      { ...config, version: 'bench', httpPort: 0, bootstrapPeers: [], walkInterval: 60_000 },
      { db, geo: (ip) => geo.lookup(ip), tuning: { inboundRatePerIp: config.inboundRatePerIp } },
    )
    await honeypot.start()
    node = honeypot.node
  }
  const target = node
    .getMultiaddrs()
    .find((a) => a.toString().includes('/tcp/'))!
    .toString()

  // The baseline: this honeypot idle, after garbage collection.
  await sleep(plan.idleMs)
  const idle = memory(true)

  const relayId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const identities = Math.ceil(plan.connections / plan.perIdentity)
  const dialers: ChildProcess[] = []
  const reports: Promise<DialerReport>[] = []
  for (let d = 0; d < plan.dialers; d++) {
    const first = Math.floor((identities * d) / plan.dialers)
    const count = Math.floor((identities * (d + 1)) / plan.dialers) - first
    const child = fork(SELF, [], {
      env: { ...process.env, PUNCHR_BENCH_HONEYPOT_ROLE: 'dialer' },
      serialization: 'advanced',
    })
    const dialerPlan: DialerPlan = {
      target,
      relayId,
      first,
      count,
      perIdentity: plan.perIdentity,
      lanes: plan.lanes,
    }
    child.send({ plan: dialerPlan })
    await new Promise<void>((resolve) => child.once('message', () => resolve()))
    child.on('error', () => undefined)
    dialers.push(child)
    reports.push(
      new Promise<DialerReport>((resolve, reject) => {
        child.on('message', (m: { done?: DialerReport }) => {
          if (m.done !== undefined) resolve(m.done)
        })
        child.once('exit', (code) => reject(new Error(`dialer exited with ${code} before reporting`)))
      }),
    )
  }
  // Tell the dialer that owns the peer (every dialer, they ignore others) that its connection
  // was identified. Listened to after the recorder, which is subscribed at start: by now the
  // connection was judged and its event handed to the writer. Only the first identify of a
  // connection counts: a later identify push on it would release the peer's next connection
  // before its own identify.
  const identified = new Set<string>()
  node.addEventListener('connection:close', (evt: CustomEvent<Connection>) =>
    identified.delete(evt.detail.id),
  )
  node.addEventListener('peer:identify', (evt: CustomEvent<IdentifyResult>) => {
    const connection = evt.detail.connection
    if (identified.has(connection.id)) return
    identified.add(connection.id)
    const peer = evt.detail.peerId.toString()
    // A dialer that finished may be gone already: a failed send is nothing to report.
    for (const child of dialers) if (child.connected) child.send({ identified: peer }, () => undefined)
  })

  let peak = memory(false)
  const sampler = setInterval(() => {
    const m = memory(false)
    peak = {
      rss: Math.max(peak.rss, m.rss),
      heapUsed: Math.max(peak.heapUsed, m.heapUsed),
      external: Math.max(peak.external, m.external),
    }
  }, 250)
  const postmaster =
    plan.postgresDir === undefined ? undefined : postmasterPid(join(plan.postgresDir, 'data'))
  const cpuBefore = cpuSnapshot(postmaster)
  const ownBefore = process.cpuUsage()
  const t0 = performance.now()
  for (const child of dialers) child.send({ go: true })
  const dialed = await Promise.all(reports)
  const dialSeconds = (performance.now() - t0) / 1000
  // Stored: nothing tracked, nothing waiting for the database.
  await until(() => {
    const b = honeypot?.backlog
    return b === undefined || (b.pendingEvents === 0 && b.trackedConnections === 0)
  }, 120_000)
  const storedSeconds = (performance.now() - t0) / 1000
  const own = process.cpuUsage(ownBefore)
  const cpu = cpuShares(cpuBefore, cpuSnapshot(postmaster))
  clearInterval(sampler)
  await until(async () => (await node.peerStore.all()).length === 0, 30_000)
  const peerStoreAfter = (await node.peerStore.all()).length
  await sleep(1000)
  const after = memory(true)

  const all = dialed.flatMap((r) => r.identities)
  const byKind = Object.fromEntries(
    KIND_CYCLE.map((k) => [k, { identities: 0, connections: 0 }]),
  ) as ScenarioResult['byKind']
  for (const id of all) {
    if (id.confirmed > 0) byKind[id.kind].identities++
    byKind[id.kind].connections += id.confirmed
  }
  const result: ScenarioResult = {
    scenario: plan.scenario,
    ...(database === undefined ? {} : { database }),
    connections: all.reduce((n, id) => n + id.confirmed, 0),
    failed: all.reduce((n, id) => n + id.failed, 0),
    unconfirmed: all.reduce((n, id) => n + id.unconfirmed, 0),
    dialSeconds,
    storedSeconds,
    byKind,
    inbound: {},
    checks: [],
    honeypotCpuSeconds: (own.user + own.system) / 1e6,
    dialerCpuSeconds: dialed.reduce((n, r) => n + r.cpuSeconds, 0),
    cpu,
    idle,
    peak,
    after,
    peerStoreAfter,
  }
  if (honeypot !== undefined && db !== undefined) await verify(result, honeypot, db, all)
  await honeypot?.stop()
  if (honeypot === undefined) await node.stop()
  geo.close()
  await db?.close()
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  return result
}

/**
 * What the database holds must be what the dialers made: every qualifying connection judged
 * `recorded`, every stored event one of them (the writer merges a peer's repeated connections
 * waiting in one batch, and counts the merges), exactly the qualifying identities as peers with
 * events, exactly the relay-advertising ones as candidates, nobody else.
 */
async function verify(result: ScenarioResult, honeypot: Honeypot, db: Database, ids: IdentityReport[]) {
  for (const v of (await honeypot.metrics.inbound.get()).values)
    result.inbound[String(v.labels.result)] = v.value
  const total = (values: { value: number }[]) => values.reduce((n, v) => n + v.value, 0)
  result.deduplicated = total((await honeypot.metrics.deduplicated.get()).values)
  result.dropped = total((await honeypot.metrics.dropped.get()).values)
  result.transactions = total((await honeypot.metrics.batches.get()).values)
  const peersOf = async (sql: string) => new Set((await db.query<{ p: string }>(sql)).map((r) => r.p))
  const [{ n }] = (await db.query<{ n: string | number }>('SELECT count(*) AS n FROM connection_events')) as [
    { n: string | number },
  ]
  result.events = Number(n)
  const eventPeers = await peersOf(
    'SELECT DISTINCT p.multi_hash AS p FROM connection_events ce JOIN peers p ON p.id = ce.remote_id',
  )
  const candidates = await peersOf(
    'SELECT p.multi_hash AS p FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id',
  )
  result.eventPeers = eventPeers.size
  result.candidates = candidates.size

  const expect = (ok: boolean, what: string) => {
    if (!ok) result.checks.push(what)
  }
  const made = (kinds: readonly Kind[]) =>
    ids.filter((id) => kinds.includes(id.kind)).reduce((n, id) => n + id.confirmed, 0)
  const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x))
  expect(
    (result.inbound.recorded ?? 0) === made(RECORDED),
    `recorded ${result.inbound.recorded} ≠ qualifying connections ${made(RECORDED)}`,
  )
  expect((result.inbound.public ?? 0) === made(['public']), 'public verdicts ≠ public connections')
  expect((result.inbound.not_dcutr ?? 0) === made(['no-dcutr']), 'not_dcutr verdicts ≠ no-dcutr connections')
  expect(result.dropped === 0, `${result.dropped} events dropped`)
  expect(
    result.events === made(RECORDED) - result.deduplicated,
    `events stored ${result.events} ≠ recorded ${made(RECORDED)} − merged ${result.deduplicated}`,
  )
  const wanted = (kinds: readonly Kind[]) =>
    new Set(ids.filter((id) => kinds.includes(id.kind) && id.confirmed > 0).map((id) => id.peer))
  expect(sameSet(eventPeers, wanted(RECORDED)), 'peers with events ≠ qualifying identities')
  expect(sameSet(candidates, wanted(['relay'])), 'candidates ≠ relay-advertising identities')
}

// ---- orchestrator -------------------------------------------------------------------------------

async function orchestrate(): Promise<void> {
  const values = benchFlags(
    {
      honeypot: { type: 'boolean' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string' },
      'per-identity': { type: 'string', default: '5' },
      dialers: { type: 'string', default: '2' },
      lanes: { type: 'string', default: '24' },
      db: { type: 'string', multiple: true },
      'no-baseline': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
    USAGE,
  )
  const positive = (text: string | undefined, fallback: number, name: string): number => {
    const n = text === undefined ? fallback : Number(text)
    if (!Number.isInteger(n) || n < 1) {
      console.error(`${name} must be a whole number ≥ 1, not ${text}\n\n${USAGE}`)
      process.exit(2)
    }
    return n
  }
  const quick = values.quick
  const connections = positive(values.connections, quick ? 2_000 : 10_000, '--connections')
  const dbs = databaseKinds(values.db, ['pglite', 'postgres'], USAGE)
  const base = {
    connections,
    perIdentity: positive(values['per-identity'], 5, '--per-identity'),
    dialers: positive(values.dialers, 2, '--dialers'),
    lanes: positive(values.lanes, 24, '--lanes'),
    idleMs: quick ? 2_000 : 5_000,
  }
  const started = performance.now()
  const log = (line: string) =>
    console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`)
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  log(`load average ${loadBefore}; ${connections} connections per scenario`)

  const cluster = dbs.includes('postgres') ? await startPostgres() : undefined
  const results: ScenarioResult[] = []
  try {
    const scenarios: Scenario[] = [
      ...(values['no-baseline'] ? [] : (['baseline'] as const)),
      ...(dbs as Scenario[]),
    ]
    for (const scenario of scenarios) {
      log(`${scenario}: starting`)
      const plan: HoneypotPlan = {
        scenario,
        ...base,
        ...(scenario === 'postgres' ? { databaseUrl: cluster!.url, postgresDir: cluster!.dir } : {}),
      }
      const result = await runInChild(plan)
      results.push(result)
      log(
        `${scenario}: ${result.connections} connections in ${result.dialSeconds.toFixed(1)} s = ${(result.connections / result.dialSeconds).toFixed(0)}/s` +
          (result.events === undefined
            ? ''
            : `; ${result.events} events of ${result.eventPeers} peers stored after ${result.storedSeconds.toFixed(1)} s; inbound ${JSON.stringify(result.inbound)}`) +
          `; RSS ${mib(result.idle.rss)} → ${mib(result.after.rss)} MiB (peak ${mib(result.peak.rss)})` +
          `; checks: ${result.checks.length === 0 ? 'all passed' : result.checks.join('; ')}`,
      )
    }
  } finally {
    await cluster?.stop()
  }
  const failed = results.filter((r) => r.checks.length > 0 || r.unconfirmed > 0)
  const section = markdown(results, {
    command: `npm run bench -- --honeypot${quick ? ' --quick' : ''}`,
    loadBefore,
    base,
  })
  console.log(`\n${section}`)
  if (failed.length > 0) {
    console.error(
      `\nthe stored data do not match what the dialers made: ${failed.map((r) => r.scenario).join(', ')}`,
    )
    process.exit(1)
  }
  if (!quick && !values['no-write']) log(`wrote ${writeDocs(section, HEADING)}`)
}

function runInChild(plan: HoneypotPlan): Promise<ScenarioResult> {
  const child = fork(SELF, [], {
    env: { ...process.env, PUNCHR_BENCH_HONEYPOT_ROLE: 'honeypot' },
    serialization: 'advanced',
  })
  child.send({ plan })
  return new Promise((resolve, reject) => {
    child.once('message', (m: { result?: ScenarioResult; error?: string }) => {
      if (m.result !== undefined) resolve(m.result)
      else reject(new Error(m.error))
    })
    child.once('exit', (code) => reject(new Error(`honeypot process exited with ${code}`)))
  })
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

function markdown(
  results: ScenarioResult[],
  run: { command: string; loadBefore: string; base: Omit<HoneypotPlan, 'scenario'> },
): string {
  const baseline = results.find((r) => r.scenario === 'baseline')
  const rate = (r: ScenarioResult) => r.connections / r.dialSeconds
  const ratio = (value: number, of: number | undefined) =>
    of === undefined || of === 0 ? '' : ` (${(value / of).toFixed(2)}×)`
  const name = (r: ScenarioResult) =>
    r.scenario === 'baseline'
      ? 'baseline: the libp2p node alone'
      : r.scenario === 'pglite'
        ? 'PGlite (disk)'
        : 'PostgreSQL'
  const col = (f: (r: ScenarioResult) => string) => results.map(f).join(' | ')
  const dbRows = results.filter((r) => r.events !== undefined)
  const dash = (r: ScenarioResult, f: (r: ScenarioResult) => string) => (r.events === undefined ? '–' : f(r))
  const kinds = results[0]!.byKind
  const cores = cpus().length
  const lines = [
    HEADING,
    '',
    `Command: \`${run.command}\` (≈ 6 minutes; \`--quick\`: 2 000 connections per scenario, \`--db pglite|postgres\`, \`--connections\`, \`--dialers\`, \`--lanes\`, \`--per-identity\`). Source: \`bench/honeypot-main.ts\`.`,
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cores} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; ${dbRows.map((r) => `${name(r)}: ${r.database}`).join('; ')} (PostgreSQL: the throw-away cluster of test/support/postgres.ts, fsync off; pool of 10). Load average before the run: ${run.loadBefore} (the machine is shared; see the CPU rows for what other processes took meanwhile).`,
    '',
    `Each scenario runs in a fresh process: the real honeypot (\`src/honeypot\`, production defaults: ${DEFAULT_MAX_CONNECTIONS} connections, ${DEFAULT_MAX_PENDING_INBOUND} in their upgrade at once, batches of 500 or 1 s) on 127.0.0.1 with the offline geo data loaded, except the per-IP inbound limit (${DEFAULT_INBOUND_RATE_PER_IP}/s in production), lifted because every dialer comes from 127.0.0.1. ${run.base.dialers} dialer processes on the same machine run ${run.base.lanes} identities at once each; every identity is a fresh js-libp2p peer (TCP, Noise, yamux, identify in both directions, identify push) that connects ${run.base.perIdentity} times one after another and keeps each connection open until the honeypot's identify of it has completed (the honeypot process tells it over IPC, one message per connection), then closes it. Identities by what they advertise: ${(Object.entries(kinds) as [Kind, { identities: number }][]).map(([k, v]) => `${v.identities} ${KIND_TEXT[k]}`).join(', ')}. The baseline is the honeypot's own libp2p node (same transports, services and limits) without recorder, batch writer and database, in the same run.`,
    '',
    `| | ${col(name)} |`,
    `|---|${results.map(() => '--:').join('|')}|`,
    `| inbound connections (failed dials) | ${col((r) => `${r.connections.toLocaleString('en-US')} (${r.failed})`)} |`,
    `| **connections handled per second** (first dial to last close) | ${col((r) => `**${rate(r).toFixed(0)}**${r === baseline ? '' : ratio(rate(r), baseline && rate(baseline))}`)} |`,
    `| qualifying connections (DCUtR, no public address) | ${col((r) => (r.byKind.relay.connections + r.byKind.private.connections).toLocaleString('en-US'))} |`,
    `| honeypot verdicts: recorded / public / not_dcutr / closed before identify | ${col((r) => dash(r, (x) => ['recorded', 'public', 'not_dcutr', 'closed_before_identify'].map((k) => x.inbound[k] ?? 0).join(' / ')))} |`,
    `| events stored (repeats merged in a batch) | ${col((r) => dash(r, (x) => `${x.events!.toLocaleString('en-US')} (${x.deduplicated} merged)`))} |`,
    `| **events stored per second** (first dial to last write) | ${col((r) => dash(r, (x) => `**${(x.events! / x.storedSeconds).toFixed(0)}**`))} |`,
    `| peers with events / candidates stored | ${col((r) => dash(r, (x) => `${x.eventPeers!.toLocaleString('en-US')} / ${x.candidates!.toLocaleString('en-US')}`))} |`,
    `| **peers recorded per second** | ${col((r) => dash(r, (x) => `**${(x.eventPeers! / x.storedSeconds).toFixed(0)}**`))} |`,
    `| write transactions | ${col((r) => dash(r, (x) => `${x.transactions}`))} |`,
    `| stored = what the dialers made (checks) | ${col((r) => dash(r, (x) => (x.checks.length === 0 && x.unconfirmed === 0 ? 'yes' : `NO: ${x.checks.join('; ')}`)))} |`,
    `| honeypot process CPU time (per connection) | ${col((r) => `${r.honeypotCpuSeconds.toFixed(1)} s (${((1000 * r.honeypotCpuSeconds) / r.connections).toFixed(2)} ms)${r === baseline ? '' : ratio(r.honeypotCpuSeconds / r.connections, baseline && baseline.honeypotCpuSeconds / baseline.connections)}`)} |`,
    `| CPU in cores: honeypot main thread / rest of its process / PostgreSQL / dialers / others | ${col((r) => cpuText(r))} |`,
    `| honeypot RSS idle → after (after GC) | ${col((r) => `${mib(r.idle.rss)} → ${mib(r.after.rss)} MiB${ratio(r.after.rss, r.idle.rss)}`)} |`,
    `| honeypot heap idle → after (after GC) | ${col((r) => `${mib(r.idle.heapUsed)} → ${mib(r.after.heapUsed)} MiB${ratio(r.after.heapUsed, r.idle.heapUsed)}`)} |`,
    `| honeypot peak RSS / heap during the flood | ${col((r) => `${mib(r.peak.rss)} / ${mib(r.peak.heapUsed)} MiB${ratio(r.peak.rss, r.idle.rss)}`)} |`,
    `| visitors left in libp2p's peer store after | ${col((r) => String(r.peerStoreAfter))} |`,
    '',
    `Ratios: connections per second and CPU per connection against the baseline of the same run; memory against the same process idle before the flood (after GC both times; RSS includes PGlite's WebAssembly memory, which grows with the data it has cached). Connections per second count from the first dial to the last connection closed; events and peers per second from the first dial until the last event was written. CPU shares are of the whole flood, in cores of the machine's ${cores}; "dialers" is the dialer processes' own CPU time over that window; "others" is everything else on the machine (other engineers' work when it is shared).`,
  ]
  return `${lines.join('\n')}\n`
}

const KIND_TEXT: Record<Kind, string> = {
  relay: 'DCUtR peers advertising a relay address and a private one (recorded, candidates)',
  private: 'DCUtR peers advertising only a private address (recorded, no candidate)',
  public: 'DCUtR peers advertising a public address (not recorded)',
  'no-dcutr': 'peers without DCUtR (not recorded)',
}

function cpuText(r: ScenarioResult): string {
  const c = r.cpu
  if (c === undefined) return '–'
  const dialers = r.dialerCpuSeconds / r.storedSeconds
  return [c.serverThread, c.restOfProcess, c.postgres, dialers, Math.max(0, c.others - dialers)]
    .map((x) => x.toFixed(2))
    .join(' / ')
}

// ---- entry --------------------------------------------------------------------------------------

if (ROLE === 'dialer') {
  const plan = await new Promise<DialerPlan>((resolve) =>
    process.once('message', (m: { plan: DialerPlan }) => resolve(m.plan)),
  )
  await runDialer(plan)
} else if (ROLE === 'honeypot') {
  const plan = await new Promise<HoneypotPlan>((resolve) =>
    process.once('message', (m: { plan: HoneypotPlan }) => resolve(m.plan)),
  )
  try {
    const result = await runHoneypot(plan)
    process.send!({ result })
  } catch (err) {
    process.send!({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  }
  process.disconnect()
  // Whatever libp2p or a database driver may still hold open, the measurement is over.
  setTimeout(() => process.exit(0), 2_000).unref()
} else {
  await orchestrate()
}
