import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Code, ConnectError } from '@connectrpc/connect'
import { addApiKey, revokeApiKey } from '../../src/db/authorizations.js'
import type { Database } from '../../src/db/database.js'
import { Authenticator } from '../../src/server/auth.js'
import { describeEachDatabase, openTestDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { startTestServer, type TestServer } from '../support/server.js'
import { until } from '../support/until.js'

/**
 * API keys without a database round trip per call (src/server/api-key-cache.ts), and a
 * revocation that every server process on the database honours at once: each LISTENs for
 * the NOTIFY migration 0006 sends when a key changes.
 */
describeEachDatabase('API key cache', (getDb) => {
  let db: Database
  const servers: TestServer[] = []

  before(async () => {
    db = getDb()
    // Two server processes' worth on one database, as replicas would be.
    servers.push(await startTestServer(db), await startTestServer(db))
  })
  after(async () => {
    for (const server of servers) await server.stop()
  })

  it('looks a key up once, then answers from the cache', async () => {
    let lookups = 0
    const counting = {
      ...db,
      query: (sql: string, params?: readonly unknown[]) => {
        if (/FROM authorizations/.test(sql)) lookups++
        return db.query(sql, params)
      },
    } as Database
    const auth = new Authenticator(counting, { openRegistration: false })
    const { key } = await addApiKey(db, 'cached')
    for (let i = 0; i < 5; i++) assert.equal((await auth.authenticate(key)).username, 'cached')
    assert.equal(lookups, 1)
  })

  it('a key revoked elsewhere is refused by every server that had it cached, at once', async () => {
    await revokeAndExpectRefusal(db, servers)
  })
})

// PGlite listens in process: only PostgreSQL has a LISTEN connection to lose.
describe('API key cache after a lost LISTEN connection [postgres]', () => {
  let db: Database
  const servers: TestServer[] = []

  before(async () => {
    db = await openTestDatabase('postgres')
    servers.push(await startTestServer(db), await startTestServer(db))
  })
  after(async () => {
    for (const server of servers) await server.stop()
    await db?.close()
  })

  it('hears revocations again after losing its LISTEN connection', async () => {
    const listening = async () =>
      (
        await db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN punchr_api_keys' AND datname = current_database()`,
        )
      ).map((r) => Number(r.pid))
    await until('both servers to listen', async () => (await listening()).length === servers.length)
    const before = await listening()
    await db.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before])
    await until('both servers to listen again, on new connections', async () => {
      const now = await listening()
      return now.length === servers.length && now.every((pid) => !before.includes(pid))
    })
    await revokeAndExpectRefusal(db, servers)
  })
})

/** Caches a new key on every server, revokes it, and waits for each server to refuse it. */
async function revokeAndExpectRefusal(db: Database, servers: TestServer[]): Promise<void> {
  const key = (await addApiKey(db, 'soon-revoked')).key
  const host = await newPeer()
  const register = (server: TestServer) =>
    server.client.register({ clientId: host.bytes, agentVersion: 'cache-test', apiKey: key })
  for (const server of servers) await register(server)
  await revokeApiKey(db, key)
  for (const [i, server] of servers.entries()) {
    // Cached for a minute (5 s while deaf) otherwise: only the NOTIFY makes this happen so soon.
    await until(
      `server ${i + 1} to refuse the revoked key`,
      () =>
        register(server).then(
          () => false,
          (err: unknown) => err instanceof ConnectError && err.code === Code.PermissionDenied,
        ),
      3_000,
    )
  }
}
