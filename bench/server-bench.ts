import { Worker } from 'node:worker_threads'
import { create } from '@bufbuild/protobuf'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import type { Database } from '../src/db/database.js'
import { GetAddrInfoRequestSchema, PunchrService } from '../src/gen/punchr_pb.js'
import { parsePeerIdBytes, peerIdToBytes } from '../src/lib/peer-id.js'
import { createServer } from '../src/server/server.js'
import { loopbackServerConfig } from '../test/support/server.js'
import { type CpuShares, type CpuSnapshot, cpuShares, cpuSnapshot } from './cpu.js'
import { ALLOCATION_PICK, ALLOCATION_TX, Instrumented, REPORT_TX } from './instrument.js'
import { buildReport, type LoadResult, type LoadSpec, type Rpc, type WorkerHost } from './load-worker.js'
import { type RemoteSample, refreshCandidates, type SeededHost } from './seed.js'
import { int, ms, type Summary, summarize } from './stats.js'

export interface PhaseResult {
  rpc: Rpc
  concurrency: number
  calls: number
  ok: number
  errors: Record<string, number>
  firstError: string | undefined
  perSecond: number
  latency: Summary
  /** p50 over the first and the last fifth of the window: does it degrade as it runs? */
  p50First: number
  p50Last: number
  /** Server side, ms: the transaction of the RPC (from its first statement), and for GetAddrInfo the pick statement. */
  serverTx: Summary
  serverTxWithWait: Summary
  pick: Summary | undefined
  /** GetAddrInfo: distinct remotes handed out in this phase, and answers without addrs. */
  distinctRemotes: number
  emptyAddrs: number
  /** Where the CPU went during the measured window. */
  cpu: CpuShares | undefined
  topStatements: { label: string; count: number; totalMs: number; p50: number; p99: number }[]
  /** SQL statements the server ran per successful call (BEGIN/COMMIT not counted). */
  statementsPerCall: number
}

export interface ServerBenchOptions {
  concurrencies: number[]
  warmupMs: number
  durationMs: number
  log: (line: string) => void
  /** VACUUM ANALYZE remote_candidates after refreshing it (off with --no-vacuum). */
  vacuum: boolean
  /** PostgreSQL's postmaster, to account for its CPU time. */
  postmaster?: number | undefined
  /** Hands out the running server so Ctrl-C can stop it before the database goes. */
  onServer?: (server: { destroy(): Promise<void> }) => void
  /** Keeps the active worker so Ctrl-C can stop it. */
  onWorker?: (worker: Worker | undefined) => void
}

export interface Explain {
  /** `fresh`: seeded and vacuumed; `after-reports`: right after the TrackHolePunch runs (many results in the last minute); `after-allocations`: after the GetAddrInfo runs. */
  when: 'fresh' | 'after-reports' | 'after-allocations'
  plan: string | undefined
}

export interface ServerBenchResult {
  phases: PhaseResult[]
  /** All GetAddrInfo phases together: distinct remotes / successful calls. */
  fairness: { calls: number; distinct: number; maxPerRemote: number; emptyAddrs: number }
  /** EXPLAIN (ANALYZE, BUFFERS) of the allocation statement at three moments. */
  explains: Explain[]
}

/** Starts the real server over `db` and drives it over gRPC from a worker thread. */
export async function benchServer(
  db: Database,
  hosts: SeededHost[],
  remotes: RemoteSample[],
  options: ServerBenchOptions,
): Promise<ServerBenchResult> {
  const { log } = options
  // Candidates not seen for 10 minutes are not handed out; seeding (or growing) a large table
  // takes longer than that.
  await refreshCandidates(db, options.vacuum)
  const instrumented = new Instrumented(db)
  const server = await createServer(loopbackServerConfig(), { db: instrumented.db })
  options.onServer?.(server)
  await server.start()
  const grpcUrl = `http://127.0.0.1:${server.grpcPort}`
  try {
    await smokeTest(grpcUrl, hosts, remotes)
    const explains: Explain[] = [{ when: 'fresh', plan: await explainAllocation(db, instrumented) }]
    const workerHosts: WorkerHost[] = hosts.map((h) => ({
      peerId: h.peer.id,
      apiKey: h.apiKey,
      group: h.group.map((p) => p.id),
      listenAddrs: h.listenAddrs,
    }))
    const phases: PhaseResult[] = []
    const handedOut = new Map<string, number>()
    for (const rpc of ['TrackHolePunch', 'GetAddrInfo'] as const) {
      if (rpc === 'GetAddrInfo') {
        explains.push({ when: 'after-reports', plan: await explainAllocation(db, instrumented) })
        await refreshCandidates(db, options.vacuum)
      }
      for (const concurrency of options.concurrencies) {
        const spec: LoadSpec = {
          rpc,
          grpcUrl,
          concurrency,
          warmupMs: options.warmupMs,
          durationMs: options.durationMs,
          hosts: workerHosts,
          remotes: rpc === 'TrackHolePunch' ? remotes : [],
        }
        const phase = await runPhase(spec, instrumented, options)
        phases.push(phase.result)
        for (const r of phase.remotes) handedOut.set(r, (handedOut.get(r) ?? 0) + 1)
        log(describePhase(phase.result))
      }
    }
    explains.push({ when: 'after-allocations', plan: await explainAllocation(db, instrumented) })
    const getAddrCalls = phases.filter((p) => p.rpc === 'GetAddrInfo').reduce((n, p) => n + p.ok, 0)
    return {
      phases,
      fairness: {
        calls: getAddrCalls,
        distinct: handedOut.size,
        maxPerRemote: Math.max(0, ...handedOut.values()),
        emptyAddrs: phases.reduce((n, p) => n + p.emptyAddrs, 0),
      },
      explains,
    }
  } finally {
    await server.destroy()
  }
}

/** One call of each RPC from this thread: the seeded data must be servable before measuring. */
async function smokeTest(grpcUrl: string, hosts: SeededHost[], remotes: RemoteSample[]): Promise<void> {
  const client = createClient(PunchrService, createGrpcTransport({ baseUrl: grpcUrl }))
  const host = hosts[0]!
  const res = await client.getAddrInfo(
    create(GetAddrInfoRequestSchema, {
      hostId: host.peer.bytes,
      allHostIds: host.group.map((p) => p.bytes),
      apiKey: host.apiKey,
    }),
  )
  parsePeerIdBytes(res.remoteId)
  if (res.multiAddresses.length === 0) throw new Error('smoke test: GetAddrInfo returned no relay addrs')
  const { multiaddr } = await import('@multiformats/multiaddr')
  const remote = remotes[0]!
  await client.trackHolePunch(
    buildReport(
      {
        bytes: host.peer.bytes,
        apiKey: host.apiKey,
        group: [],
        listen: host.listenAddrs.map((a) => multiaddr(a).bytes),
        ip6: false,
      },
      {
        bytes: peerIdToBytes(remote.id),
        relay: remote.relayAddrs.map((a) => multiaddr(a).bytes),
        publicTcp: multiaddr(remote.publicAddrs[0]!).bytes,
        publicQuic: multiaddr(remote.publicAddrs[1]!).bytes,
        ip6: remote.publicAddrs[0]!.startsWith('/ip6/'),
        relayPeer: peerIdToBytes(remote.relayId),
        relayDirect: multiaddr(remote.relayDirectAddr).bytes,
      },
      999_999,
    ),
  )
}

async function runPhase(
  spec: LoadSpec,
  instrumented: Instrumented,
  options: ServerBenchOptions,
): Promise<{ result: PhaseResult; remotes: string[] }> {
  options.log(
    `  ${spec.rpc} with ${spec.concurrency} workers: ${(spec.warmupMs / 1000).toFixed(0)} s warm-up + ${(spec.durationMs / 1000).toFixed(0)} s …`,
  )
  const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: spec })
  options.onWorker?.(worker)
  let load: LoadResult
  let cpuFrom: CpuSnapshot | undefined
  let cpuTo: CpuSnapshot | undefined
  try {
    load = await new Promise<LoadResult>((resolve, reject) => {
      worker.on('message', (msg: { measuring?: true; result?: LoadResult; error?: string }) => {
        // The warm-up is over: server-side timings start from here.
        if (msg.measuring === true) {
          instrumented.reset()
          cpuFrom = cpuSnapshot(options.postmaster)
        } else if (msg.result !== undefined) {
          cpuTo = cpuSnapshot(options.postmaster)
          resolve(msg.result)
        } else reject(new Error(`load worker: ${msg.error}`))
      })
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`load worker exited with code ${code}`)))
    })
  } finally {
    options.onWorker?.(undefined)
    await worker.terminate()
  }
  const txName = spec.rpc === 'GetAddrInfo' ? ALLOCATION_TX : REPORT_TX
  const failed = Object.values(load.errors).reduce((a, b) => a + b, 0)
  const fifth = spec.durationMs / 5
  const first: number[] = []
  const last: number[] = []
  for (let i = 0; i < load.latencies.length; i++) {
    if (load.startedAt[i]! < fifth) first.push(load.latencies[i]!)
    else if (load.startedAt[i]! >= spec.durationMs - fifth) last.push(load.latencies[i]!)
  }
  const top = [...instrumented.statements.entries()]
    .map(([label, values]) => {
      const s = summarize(values)
      return { label, count: s.count, totalMs: s.mean * s.count, p50: s.p50, p99: s.p99 }
    })
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 6)
  const result: PhaseResult = {
    rpc: spec.rpc,
    concurrency: spec.concurrency,
    calls: load.ok + failed,
    ok: load.ok,
    errors: load.errors,
    firstError: load.firstError,
    perSecond: load.ok / (load.windowMs / 1000),
    latency: summarize(load.latencies),
    p50First: summarize(first).p50,
    p50Last: summarize(last).p50,
    serverTx: summarize(instrumented.transactions.get(txName) ?? []),
    serverTxWithWait: summarize(instrumented.transactions.get(`${txName} (incl. wait)`) ?? []),
    pick:
      spec.rpc === 'GetAddrInfo' ? summarize(instrumented.statements.get(ALLOCATION_PICK) ?? []) : undefined,
    distinctRemotes: new Set(load.remotes).size,
    emptyAddrs: load.emptyAddrs,
    cpu: cpuFrom !== undefined && cpuTo !== undefined ? cpuShares(cpuFrom, cpuTo) : undefined,
    topStatements: top,
    statementsPerCall:
      [...instrumented.statements.values()].reduce((n, v) => n + v.length, 0) / Math.max(1, load.ok),
  }
  return { result, remotes: load.remotes }
}

export function describePhase(p: PhaseResult): string {
  const lines = [
    `    ${int(p.ok)} ok${p.calls > p.ok ? `, ${int(p.calls - p.ok)} failed ${JSON.stringify(p.errors)} (first: ${p.firstError})` : ''}` +
      ` → ${p.perSecond.toFixed(1)}/s; latency p50 ${ms(p.latency.p50)} ms, p90 ${ms(p.latency.p90)}, p99 ${ms(p.latency.p99)}, max ${ms(p.latency.max)}` +
      ` (p50 first/last fifth ${ms(p.p50First)}/${ms(p.p50Last)} ms)`,
    `    server: ${p.rpc === 'GetAddrInfo' ? 'allocateRemote' : 'insertHolePunchReports'} transaction p50 ${ms(p.serverTx.p50)} ms, p99 ${ms(p.serverTx.p99)}` +
      ` (with wait for the connection/queue p50 ${ms(p.serverTxWithWait.p50)}, p99 ${ms(p.serverTxWithWait.p99)})`,
  ]
  if (p.pick !== undefined) {
    lines.push(
      `    allocation pick statement p50 ${ms(p.pick.p50)} ms, p99 ${ms(p.pick.p99)}, max ${ms(p.pick.max)}; distinct remotes ${int(p.distinctRemotes)} / ${int(p.ok)} calls (${int(p.ok - p.distinctRemotes)} handed out twice)` +
        (p.emptyAddrs > 0 ? `; ${p.emptyAddrs} answers without addrs` : ''),
    )
  }
  if (p.cpu !== undefined) lines.push(`    CPU: ${cpuText(p.cpu)}`)
  lines.push(
    `    where the server spent its database time (${p.statementsPerCall.toFixed(1)} statements per call; statement: count, total, p50, p99):`,
  )
  for (const s of p.topStatements) {
    lines.push(
      `      ${int(s.count).padStart(8)} × ${int(s.totalMs).padStart(7)} ms  p50 ${ms(s.p50)}  p99 ${ms(s.p99)}  ${s.label}`,
    )
  }
  return lines.join('\n')
}

export function cpuText(c: CpuShares): string {
  return `machine ${c.machine.toFixed(2)} cores busy: server thread ${c.serverThread.toFixed(2)}, load generator and other threads of this process ${c.restOfProcess.toFixed(2)}, PostgreSQL ${c.postgres.toFixed(2)}, other processes ${c.others.toFixed(2)}; server event loop ${(100 * c.serverEventLoop).toFixed(0)} % busy`
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the allocation statement exactly as the server last ran it,
 * in a transaction that is rolled back (the statement updates a row).
 */
async function explainAllocation(db: Database, instrumented: Instrumented): Promise<string | undefined> {
  const captured = instrumented.allocationSql
  if (captured === undefined) return undefined
  const rollback = new Error('rollback')
  let plan: string | undefined
  try {
    await db.transaction(async (tx) => {
      const rows = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) ${captured.sql}`,
        captured.params,
      )
      plan = rows.map((r) => r['QUERY PLAN']).join('\n')
      throw rollback
    })
  } catch (err) {
    if (err !== rollback) throw err
  }
  return plan
}
