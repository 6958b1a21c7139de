import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { toBinary } from '@bufbuild/protobuf'
import { ApiClient } from '../../src/client/api-client.js'
import { ReportQueue } from '../../src/client/report-queue.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { fullReport, newPeer, type TestPeer } from '../support/fixtures.js'
import { type PostgresCluster, startPostgres } from '../support/postgres.js'
import { loopbackServerConfig, testGeo } from '../support/server.js'

/**
 * Load with a fault, small scale (bench/ has the full-scale figures): 1 000 client hosts on
 * 100 API keys, each with the real client's on-disk report queue and API client, report to one
 * server on PostgreSQL; PostgreSQL is stopped mid-load and started again. The server answers
 * UNAVAILABLE meanwhile, the queues keep and resend, and in the end every report sent is
 * stored exactly once, none set aside.
 */

const KEYS = 100
const HOSTS_PER_KEY = 10
const REPORTS_PER_HOST = 2
const OUTAGE_MS = 2_000

describe('1 000 clients while PostgreSQL restarts', { timeout: 240_000 }, () => {
  let cluster: PostgresCluster
  let db: Database
  let server: PunchrServer
  let queueRoot: string

  before(async () => {
    cluster = await startPostgres()
    db = await openDatabase({ databaseUrl: cluster.url })
    await migrate(db)
    server = await createServer(loopbackServerConfig(), { db, geo: await testGeo() })
    await server.start()
    queueRoot = mkdtempSync(join(tmpdir(), 'punchr-load-'))
  })
  after(async () => {
    await server.destroy()
    await db.close()
    await cluster.stop()
    rmSync(queueRoot, { recursive: true, force: true })
  })

  it('stores every report exactly once although the database went away', async () => {
    const api = new ApiClient({ server: `127.0.0.1:${server.grpcPort}`, tls: false, tlsSkipVerify: false })
    const [remote, relay] = await Promise.all([newPeer(), newPeer()])
    const clients: { key: string; hosts: TestPeer[] }[] = []
    for (let k = 0; k < KEYS; k++) {
      const key = (await addApiKey(db, `load-${k}`)).key
      const hosts = await Promise.all(Array.from({ length: HOSTS_PER_KEY }, () => newPeer()))
      await Promise.all(
        hosts.map((h) =>
          api.register({ clientId: h.bytes, agentVersion: 'load', protocols: [], apiKey: key }),
        ),
      )
      clients.push({ key, hosts })
    }

    // One queue per client, as each volunteer's machine has; fast retries to keep the test short.
    const queues = await Promise.all(
      clients.map((_, i) =>
        ReportQueue.open({
          dir: join(queueRoot, `client-${i}`),
          send: (report, signal) => api.trackHolePunchBytes(report, signal),
          backoff: { initial: 100, max: 1_000 },
        }),
      ),
    )
    let sent = 0
    const base = BigInt(Date.now() - 3_600_000) * 1_000_000n
    for (const [i, client] of clients.entries()) {
      for (const [j, host] of client.hosts.entries()) {
        for (let r = 0; r < REPORTS_PER_HOST; r++) {
          const startNs = base + BigInt(((i * HOSTS_PER_KEY + j) * REPORTS_PER_HOST + r) * 1_000) * 1_000_000n
          const report = fullReport({ client: host, remote, relay, apiKey: client.key, startNs })
          await queues[i]!.enqueue(toBinary(TrackHolePunchRequestSchema, report))
          sent++
        }
      }
    }
    for (const q of queues) q.start()

    // The outage, while the queues are busy.
    await new Promise((resolve) => setTimeout(resolve, 300))
    await cluster.stopServer()
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
    await cluster.startServer()

    const drained = await Promise.all(queues.map((q) => q.drain(180_000)))
    await Promise.all(queues.map((q) => q.stop()))
    api.close()
    assert.ok(drained.every(Boolean), 'every queue emptied')
    const rejected = queues.flatMap((q) => {
      try {
        return readdirSync(join(q.dir, 'rejected'))
      } catch {
        return []
      }
    })
    assert.deepEqual(rejected, [], 'no report was set aside')

    const stored = await db.query<{ n: string }>('SELECT count(*) AS n FROM hole_punch_results')
    assert.equal(Number(stored[0]!.n), sent, `${sent} reports sent`)
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text()
    assert.match(metrics, /code="Unavailable"/, 'the outage was seen: some calls got UNAVAILABLE')
  })
})
