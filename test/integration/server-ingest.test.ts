import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { toBinary } from '@bufbuild/protobuf'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { freePorts } from '../../src/client/ports.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase, type Queryable } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import {
  PunchrService,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { PUNCHR_BIN } from '../support/cli.js'
import { describeEachDatabase, postgresTestUrl } from '../support/databases.js'
import { fullReport, newPeer, type TestPeer } from '../support/fixtures.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'
import { loopbackServerConfig, reportingHost, testGeo } from '../support/server.js'
import { until } from '../support/until.js'

/** The digest the server stores a report under: its bytes without the API key. */
function digestOf(report: TrackHolePunchRequest): string {
  return createHash('sha256')
    .update(toBinary(TrackHolePunchRequestSchema, { ...report, apiKey: '' }))
    .digest('hex')
}

/** A distinct report per call: `n` shifts its end, so every digest differs. */
function nthReport(base: TrackHolePunchRequest, n: number): TrackHolePunchRequest {
  return { ...base, endedAt: base.endedAt + BigInt(n) }
}

describeEachDatabase('reports stored in batches (group commit)', (getDb) => {
  let server: PunchrServer
  let db: Database
  /** The host lookups the server ran (findClientHosts in src/db/clients.ts). */
  let hostLookups = 0
  before(async () => {
    db = getDb()
    const counted: Database = {
      ...db,
      query: (sql, params, options) => {
        if (sql.includes('FROM peers p JOIN clients c')) hostLookups++
        return db.query(sql, params, options)
      },
    }
    // A long window, so that the burst below lands in one batch whatever the machine's speed.
    server = await createServer(loopbackServerConfig({ reportBatchWindow: 200 }), {
      db: counted,
      geo: await testGeo(),
    })
    await server.start()
  })
  after(() => server.destroy())

  it('answers a burst of reports from one transaction, each stored once, a copy among them too', async () => {
    const { client, host, report: base } = await reportingHost(db, server.grpcPort, 'burst')
    const reports = Array.from({ length: 10 }, (_, n) => nthReport(base, n))
    hostLookups = 0
    await Promise.all([...reports, reports[3]!].map((r) => client.trackHolePunch(r)))
    // Each call looks its host up; on PostgreSQL those that arrive while two lookups wait for
    // their answers share one statement. (PGlite answers within the thread before the next
    // call is read: nothing to share, and no round trip to save.)
    if (db.kind === 'postgres') assert.ok(hostLookups < 11, `${hostLookups} host lookups for 11 calls`)
    const stored = await db.query<{ digest: string }>(
      `SELECT encode(report_sha256, 'hex') AS digest FROM hole_punch_results WHERE client_id =
         (SELECT id FROM clients WHERE peer_id = (SELECT id FROM peers WHERE multi_hash = $1))`,
      [host.id],
    )
    assert.deepEqual(stored.map((r) => r.digest).sort(), reports.map(digestOf).sort())
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text()
    assert.match(metrics, /^punchr_server_report_batch_size_count 1$/m, 'one batch')
    assert.match(metrics, /^punchr_server_report_batch_size_sum 11$/m, 'of all eleven reports')
  })
})

describeEachDatabase('the host of a report', (getDb) => {
  let server: PunchrServer
  before(async () => {
    server = await createServer(loopbackServerConfig(), { db: getDb(), geo: await testGeo() })
    await server.start()
  })
  after(() => server.destroy())

  it('is read as registered last: a host registering again with another agent is seen by its next report', async () => {
    const db = getDb()
    const { client, key, host, report } = await reportingHost(db, server.grpcPort, 'agent-change')
    // The first report makes the server remember the host (recent-hosts.ts).
    await client.trackHolePunch(nthReport(report, 1))
    await client.register({
      clientId: host.bytes,
      agentVersion: 'punchr/go-client/0.9.0',
      protocols: [],
      apiKey: key,
    })
    await client.trackHolePunch(nthReport(report, 2))
    const rows = await db.query<{ client_implementation: string }>(
      `SELECT client_implementation FROM hole_punch_results WHERE report_sha256 = ANY($1::bytea[]) ORDER BY id`,
      [[1, 2].map((n) => Buffer.from(digestOf(nthReport(report, n)), 'hex'))],
    )
    assert.deepEqual(
      rows.map((r) => r.client_implementation),
      ['other', 'punchr-go'],
    )
  })
})

describeEachDatabase('batches of reports written at the same time (--report-batch-writers)', (getDb) => {
  /** Starts a server whose batches hold two reports, and counts the batches written at once. */
  async function busiestWrite(writers: number): Promise<number> {
    const db = getDb()
    let writing = 0
    let most = 0
    // A batch is written by one statement (src/db/report-batch.ts), alone or in a transaction.
    const counting = (q: Queryable): Queryable => ({
      query: async (sql, params, options) => {
        if (!sql.includes('INSERT INTO hole_punch_report_digests')) return q.query(sql, params, options)
        most = Math.max(most, ++writing)
        try {
          return await q.query(sql, params, options)
        } finally {
          writing--
        }
      },
    })
    const counted: Database = {
      ...db,
      ...counting(db),
      transaction: (fn) => db.transaction((tx) => fn(counting(tx))),
    }
    const server = await createServer(
      loopbackServerConfig({ reportBatchMax: 2, reportBatchWindow: 0, reportBatchWriters: writers }),
      { db: counted, geo: await testGeo() },
    )
    await server.start()
    try {
      const { client, report } = await reportingHost(db, server.grpcPort, `writers-${writers}`)
      await Promise.all(Array.from({ length: 40 }, (_, n) => client.trackHolePunch(nthReport(report, n))))
      return most
    } finally {
      await server.destroy()
    }
  }

  it('writes one batch at a time by default, and as many as asked on PostgreSQL', async () => {
    assert.equal(await busiestWrite(1), 1)
    // PGlite runs one transaction at a time whatever is asked.
    const expected = getDb().kind === 'postgres' ? 3 : 1
    assert.equal(await busiestWrite(3), expected)
  })
})

describe('a server killed mid-load (kill -9, PostgreSQL)', { timeout: 120_000 }, () => {
  let url: string
  let db: Database
  let child: ChildProcess | undefined
  before(async () => {
    url = await createTestDatabase(postgresTestUrl())
    db = await openDatabase({ databaseUrl: url })
    await migrate(db)
  })
  after(async () => {
    child?.kill('SIGKILL')
    await db.close()
    await dropTestDatabase(postgresTestUrl(), url)
  })

  it('has stored every report it acknowledged', async () => {
    const [port, httpPort] = await freePorts('127.0.0.1', 2)
    child = spawn(
      process.execPath,
      [PUNCHR_BIN, 'server', '--database-url', url, '--host', '127.0.0.1', '--port', `${port}`],
      {
        env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn', PUNCHR_SERVER_HTTP_PORT: `${httpPort}` },
        stdio: 'ignore',
      },
    )
    const exited = new Promise((resolve) => child!.once('exit', resolve))
    await until(
      'the server to answer /healthz',
      async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined))?.ok === true,
      30_000,
    )
    const key = (await addApiKey(db, 'kill')).key
    const client = createClient(PunchrService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }))
    const [remote, relay] = await Promise.all([newPeer(), newPeer()])
    const hosts: TestPeer[] = await Promise.all(Array.from({ length: 16 }, () => newPeer()))
    for (const host of hosts)
      await client.register({
        clientId: host.bytes,
        agentVersion: 'punchr-ts/test',
        protocols: [],
        apiKey: key,
      })

    const acknowledged: string[] = []
    let killed = false
    // 16 hosts report back to back until the server dies under them.
    const loops = hosts.map(async (host, h) => {
      const base = fullReport({ client: host, remote, relay, apiKey: key })
      for (let n = 0; !killed; n++) {
        const report = nthReport(base, n)
        try {
          await client.trackHolePunch(report)
          acknowledged.push(digestOf(report))
        } catch {
          if (!killed) throw new Error(`host ${h} failed before the kill`)
        }
      }
    })
    await until('300 acknowledged reports', () => acknowledged.length >= 300, 60_000)
    killed = true
    child.kill('SIGKILL')
    await Promise.all([exited, ...loops])
    const stored = new Set(
      (
        await db.query<{ digest: string }>(
          `SELECT encode(report_sha256, 'hex') AS digest FROM hole_punch_results`,
        )
      ).map((r) => r.digest),
    )
    const lost = acknowledged.filter((d) => !stored.has(d))
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged reports are not stored`)
    // Stored but never acknowledged: those whose batch committed as the process died.
    assert.ok(stored.size >= acknowledged.length)
  })
})
