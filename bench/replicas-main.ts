// `npm run bench -- --replicas`: 1 and then 3 `punchr server` processes on one PostgreSQL
// database behind Debian's HAProxy (each gRPC call balanced on its own), loaded with
// TrackHolePunch and with GetAddrInfo through the balancer: calls per second and latency, so
// that the ratio says what a replica adds on this machine.
import { freePorts } from '../src/client/ports.js'
import { type Database, openDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { startGrpcBalancer } from '../test/support/haproxy.js'
import { seedCandidates } from '../test/support/honeypot-seed.js'
import { startPostgres } from '../test/support/postgres.js'
import { benchFlags, positiveNumber } from './args.js'
import type { LoadSpec, Rpc, WorkerHost } from './load-worker.js'
import { registeredHosts, runLoadWorker, syntheticRemote } from './rpc-load.js'
import type { RemoteSample } from './seed.js'
import { ServerProcess, waitHealthy } from './server-process.js'
import { int, ms, summarize } from './stats.js'

const USAGE = `npm run bench -- --replicas [--seconds 10] [--workers 32]

Needs Debian's haproxy and PostgreSQL.

  --seconds   measured seconds per RPC and replica count (default: 10, after 2 s of warm-up)
  --workers   concurrent client loops, each on its own HTTP/2 connection (default: 32)`

const values = benchFlags(
  {
    replicas: { type: 'boolean' },
    seconds: { type: 'string' },
    workers: { type: 'string' },
  },
  USAGE,
)
const seconds = positiveNumber(values.seconds, 10, '--seconds', USAGE)
const workers = Math.round(positiveNumber(values.workers, 32, '--workers', USAGE))
/** 200 hosts on 20 keys; 5 000 candidates behind relays at their own IPs; reports about 2 000 others. */
const KEYS = 20
const HOSTS_PER_KEY = 10
const CANDIDATES = 5_000
const REPORTED_REMOTES = 2_000
const REPLICA_COUNTS = [1, 3]
const RPCS: Rpc[] = ['TrackHolePunch', 'GetAddrInfo']

interface Row {
  replicas: number
  rpc: Rpc
  callsPerSecond: number
  p50: number
  p99: number
  errors: number
  serverCpu: number
}

const cluster = await startPostgres()
const rows: Row[] = []
try {
  const db = await openDatabase({ databaseUrl: cluster.url })
  await migrate(db)
  const hosts = await registeredHosts(db, KEYS, HOSTS_PER_KEY)
  process.stderr.write(`seeding ${CANDIDATES} candidates …\n`)
  await seedCandidates(db, CANDIDATES)
  const remotes = await Promise.all(Array.from({ length: REPORTED_REMOTES }, (_, i) => syntheticRemote(i)))
  for (const replicas of REPLICA_COUNTS)
    rows.push(...(await benchReplicas(db, cluster.url, replicas, hosts, remotes)))
  await db.close()
} finally {
  await new Promise((resolve) => setTimeout(resolve, 300))
  await cluster.stop()
}

console.log(
  `\n${workers} client loops through HAProxy, ${seconds} s measured per row (${KEYS * HOSTS_PER_KEY} hosts on ${KEYS} keys)\n`,
)
console.log('| replicas | RPC | calls/s | p50 ms | p99 ms | errors | servers CPU (cores) | 3 ÷ 1 |')
console.log('|--:|---|--:|--:|--:|--:|--:|--:|')
for (const row of rows) {
  const one = rows.find((r) => r.rpc === row.rpc && r.replicas === 1)!
  const ratio = row.replicas === 1 ? '' : `${(row.callsPerSecond / one.callsPerSecond).toFixed(2)}×`
  console.log(
    `| ${row.replicas} | ${row.rpc} | ${int(row.callsPerSecond)} | ${ms(row.p50)} | ${ms(row.p99)} | ${row.errors} | ${row.serverCpu.toFixed(2)} | ${ratio} |`,
  )
}

async function benchReplicas(
  db: Database,
  url: string,
  count: number,
  hosts: WorkerHost[],
  remotes: RemoteSample[],
): Promise<Row[]> {
  const ports = await freePorts('127.0.0.1', 2 * count)
  const servers = Array.from(
    { length: count },
    (_, i) =>
      new ServerProcess([
        '--host',
        '127.0.0.1',
        '--port',
        String(ports[2 * i]),
        '--http-port',
        String(ports[2 * i + 1]),
        '--database-url',
        url,
      ]),
  )
  const balancer = await startGrpcBalancer(ports.filter((_, i) => i % 2 === 0))
  try {
    await Promise.all(ports.filter((_, i) => i % 2 === 1).map((p) => waitHealthy(p)))
    const result: Row[] = []
    for (const rpc of RPCS) {
      // Every candidate eligible again, no host kept from one by an earlier run, and no dead
      // rows of the earlier runs in front of the allocation index: each run starts alike.
      await db.query('UPDATE remote_candidates SET last_seen_at = now(), last_allocated_at = NULL')
      await db.query('DELETE FROM allocations')
      await db.exec('VACUUM (ANALYZE) remote_candidates, allocations')
      const spec: LoadSpec = {
        rpc,
        grpcUrl: balancer.url,
        concurrency: workers,
        warmupMs: 2_000,
        durationMs: seconds * 1000,
        hosts,
        remotes,
      }
      process.stderr.write(`${count} replica(s), ${rpc}: 2 s warm-up + ${seconds} s …\n`)
      const cpuBefore = servers.map((s) => s.cpuSeconds())
      let measuredFrom = 0
      let cpuFrom: number[] = cpuBefore
      const load = await runLoadWorker(spec, (measuring) => {
        if (measuring) {
          measuredFrom = performance.now()
          cpuFrom = servers.map((s) => s.cpuSeconds())
        }
      })
      const window = (performance.now() - measuredFrom) / 1000
      const cpu = servers.map((s, i) => s.cpuSeconds() - cpuFrom[i]!).reduce((a, b) => a + b, 0) / window
      const latency = summarize([...load.latencies])
      if (load.firstError !== undefined) process.stderr.write(`  first error: ${load.firstError}\n`)
      result.push({
        replicas: count,
        rpc,
        callsPerSecond: load.ok / (load.windowMs / 1000),
        p50: latency.p50,
        p99: latency.p99,
        errors: Object.values(load.errors).reduce((a, b) => a + b, 0),
        serverCpu: cpu,
      })
    }
    return result
  } finally {
    await balancer.stop()
    for (const server of servers) server.child.kill('SIGTERM')
    await Promise.all(servers.map((s) => s.exited))
  }
}
