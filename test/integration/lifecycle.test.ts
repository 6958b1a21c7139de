import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Code, ConnectError } from '@connectrpc/connect'
import { describeEachDatabase } from '../support/databases.js'
import { fullReport, newPeer } from '../support/fixtures.js'
import { startTestServer } from '../support/server.js'

describeEachDatabase('graceful shutdown', (getDb) => {
  it('finishes in-flight reports on destroy and leaves nothing half-written', async () => {
    const t = await startTestServer(getDb())
    const key = await t.addKey()
    const [client, remote, relay] = await Promise.all([newPeer(), newPeer(), newPeer()])
    await t.client.register({ clientId: client.bytes, agentVersion: 'x', apiKey: key })
    const reports = Array.from({ length: 30 }, (_, i) => {
      const r = fullReport({ client, remote, relay, apiKey: key })
      r.endedAt += BigInt(i) // 30 distinct reports
      return r
    })
    let settledCount = 0
    const outcomes = reports.map((r) =>
      t.client
        .trackHolePunch(r)
        .then(
          () => 'ok' as const,
          (err: unknown) => err,
        )
        .finally(() => settledCount++),
    )
    // Stop while reports are being handled. (PGlite runs on this thread, so a burst may be
    // handled between two polls: then stop right after the first answer.)
    while (t.server.inFlight === 0 && settledCount === 0)
      await new Promise((resolve) => setTimeout(resolve, 1))
    await t.stop()
    const settled = await Promise.all(outcomes)
    const accepted = settled.filter((o) => o === 'ok').length
    for (const o of settled) {
      if (o !== 'ok') assert.ok(o instanceof ConnectError, `unexpected failure ${String(o)}`)
    }
    const [row] = await getDb().query<{ results: string; attempts: string }>(
      `SELECT (SELECT count(*) FROM hole_punch_results) AS results, (SELECT count(*) FROM hole_punch_attempts) AS attempts`,
    )
    // Every acknowledged report is stored whole (2 attempts each); none partially.
    assert.equal(Number(row!.results), accepted)
    assert.equal(Number(row!.attempts), accepted * 2)
    assert.ok(accepted > 0, 'at least the reports in flight when shutdown began complete')
  })
})

describeEachDatabase('open registration', (getDb) => {
  it('is off by default: an unknown key cannot register', async () => {
    const t = await startTestServer(getDb())
    try {
      const host = await newPeer()
      await assert.rejects(
        t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: 'pk_self-made' }),
        (err: ConnectError) => err.code === Code.Unauthenticated,
      )
    } finally {
      await t.stop()
    }
  })

  it('when on, Register creates the key (stored hashed) and later calls use it', async () => {
    const t = await startTestServer(getDb(), { openRegistration: true })
    try {
      const host = await newPeer()
      const key = `pk_self-made-${host.id}`
      await t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: key })
      const rows = await t.db.query<{ username: string }>(
        'SELECT username FROM authorizations WHERE key_prefix = $1',
        [key.slice(0, 9)],
      )
      assert.ok(rows.some((r) => r.username === 'open-registration'))
      const stored = await t.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM authorizations WHERE encode(api_key_sha256, 'escape') LIKE $1`,
        [`%${key}%`],
      )
      assert.equal(Number(stored[0]!.n), 0, 'the key itself is never stored')
      await assert.rejects(
        t.client.getAddrInfo({ hostId: host.bytes, apiKey: key }),
        (err: ConnectError) => err.code === Code.NotFound,
      )
    } finally {
      await t.stop()
    }
  })
})

describe('embedded database closed under the server', () => {
  let t: Awaited<ReturnType<typeof startTestServer>>
  before(async () => {
    const { openTestDatabase } = await import('../support/databases.js')
    const db = await openTestDatabase('pglite')
    t = await startTestServer(db)
    await db.close() // the server's database goes away under it
  })
  after(() => t.stop())

  it('answers UNAVAILABLE and /healthz says so (PostgreSQL outages: test/wire/grpc-js.test.ts)', async () => {
    const host = await newPeer()
    await assert.rejects(
      t.client.register({ clientId: host.bytes, agentVersion: 'x', apiKey: 'pk_x' }),
      (err: ConnectError) => err instanceof ConnectError && err.code === Code.Unavailable,
    )
    const res = await fetch(`${t.httpUrl}/healthz`)
    assert.equal(res.status, 503)
  })
})
