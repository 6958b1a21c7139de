import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Client, createClient } from '@connectrpc/connect'
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node'
import { addApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { PunchrService } from '../../src/gen/punchr_pb.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { postgresTestUrl } from '../support/databases.js'
import { newPeer, type TestPeer } from '../support/fixtures.js'
import { type GrpcBalancer, startGrpcBalancer } from '../support/haproxy.js'
import { seedCandidates } from '../support/honeypot-seed.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'
import { loopbackServerConfig, testGeo } from '../support/server.js'

/**
 * Three `punchr server` replicas on one PostgreSQL database behind a real load balancer
 * (Debian's HAProxy, each gRPC call balanced on its own): each replica opens and migrates the
 * database itself, and 1 000 client hosts on 100 keys register and ask for a remote through
 * the balancer at once. Allocation stays fair across the replicas: no remote is handed out
 * twice while others wait their turn.
 */

const REPLICAS = 3
const KEYS = 100
const HOSTS_PER_KEY = 10
/** More candidates than hosts, each behind its own relay IP (no hop budget in the way). */
const CANDIDATES = 1_100
const IN_FLIGHT = 50

describe('three server replicas behind HAProxy (PostgreSQL)', { timeout: 240_000 }, () => {
  let url: string
  let replicas: PunchrServer[] = []
  let balancer: GrpcBalancer | undefined
  let db: Database

  before(async () => {
    url = await createTestDatabase(postgresTestUrl())
    const geo = await testGeo()
    // Started together, each migrating the fresh database (the migration lock takes turns).
    replicas = await Promise.all(
      Array.from({ length: REPLICAS }, () =>
        createServer(loopbackServerConfig({ databaseUrl: url }), { geo }),
      ),
    )
    for (const replica of replicas) await replica.start()
    balancer = await startGrpcBalancer(replicas.map((r) => r.grpcPort))
    db = await openDatabase({ databaseUrl: url })
  })
  after(async () => {
    await balancer?.stop()
    await Promise.all(replicas.map((r) => r.destroy()))
    await db?.close()
    await dropTestDatabase(postgresTestUrl(), url)
  })

  it('1 000 hosts asking at once through the balancer never get the same remote', async () => {
    await seedCandidates(db, CANDIDATES)
    const clients: { key: string; hosts: TestPeer[]; api: Client<typeof PunchrService> }[] = []
    const sessions: Http2SessionManager[] = []
    for (let k = 0; k < KEYS; k++) {
      const key = (await addApiKey(db, `replicas-${k}`)).key
      const hosts = await Promise.all(Array.from({ length: HOSTS_PER_KEY }, () => newPeer()))
      // One HTTP/2 connection per client process, as `punchr client` keeps one.
      const session = new Http2SessionManager(balancer!.url)
      sessions.push(session)
      const api = createClient(
        PunchrService,
        createGrpcTransport({ baseUrl: balancer!.url, sessionManager: session }),
      )
      clients.push({ key, hosts, api })
    }
    const calls = clients.flatMap(({ key, hosts, api }) =>
      hosts.map((host) => async () => {
        await api.register({
          clientId: host.bytes,
          agentVersion: 'punchr/ts-client/test',
          protocols: [],
          apiKey: key,
        })
        const answer = await api.getAddrInfo({
          hostId: host.bytes,
          allHostIds: hosts.map((h) => h.bytes),
          apiKey: key,
        })
        return Buffer.from(answer.remoteId).toString('base64')
      }),
    )
    const remotes = await inParallel(calls, IN_FLIGHT)
    for (const session of sessions) session.abort()

    assert.equal(remotes.length, KEYS * HOSTS_PER_KEY)
    assert.equal(new Set(remotes).size, remotes.length, 'a remote was handed out twice')
    const served = await Promise.all(replicas.map((r) => getAddrInfoAnswered(r.httpPort)))
    assert.equal(
      served.reduce((a, b) => a + b, 0),
      remotes.length,
    )
    for (const [i, n] of served.entries())
      assert.ok(n > 100, `replica ${i} answered only ${n} GetAddrInfo calls`)
  })
})

/** Runs `calls` with at most `limit` in flight; results in call order. */
async function inParallel<T>(calls: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(calls.length)
  let next = 0
  const worker = async () => {
    while (next < calls.length) {
      const i = next++
      results[i] = await calls[i]!()
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return results
}

/** GetAddrInfo calls a replica answered OK, from its /metrics. */
async function getAddrInfoAnswered(httpPort: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const match = /^punchr_server_rpcs_total\{method="GetAddrInfo",code="OK"\} (\d+)$/m.exec(metrics)
  return match === null ? 0 : Number(match[1])
}
