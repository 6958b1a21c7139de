// Two honeypots writing to one PostgreSQL database at once, each with a connection pool of
// its own as two processes would have, both flooded with inbound connections whose identities
// advertise the same relay (shared peer and address rows: where concurrent writers could
// deadlock). Afterwards every identity is a candidate exactly once, both honeypots' events are
// stored under their own IDs, and no batch was lost.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { WRITE_INTERVAL } from '../../src/honeypot/constants.js'
import type { Honeypot } from '../../src/honeypot/honeypot.js'
import { postgresTestUrl } from '../support/databases.js'
import { honeypotAddr, startLoopbackHoneypot } from '../support/dht.js'
import { newPeer } from '../support/fixtures.js'
import { flood } from '../support/flood-dialers.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'
import { until } from '../support/until.js'

describe('two honeypots on one PostgreSQL database', { timeout: 180_000 }, () => {
  let url: string
  let pools: Database[] = []
  let honeypots: Honeypot[] = []

  before(async () => {
    url = await createTestDatabase(postgresTestUrl())
    pools = [await openDatabase({ databaseUrl: url }), await openDatabase({ databaseUrl: url })]
    await Promise.all(pools.map((db) => migrate(db)))
    honeypots = await Promise.all(
      pools.map((db) =>
        startLoopbackHoneypot(db, { maxConnections: 2000 }, { writeInterval: WRITE_INTERVAL }),
      ),
    )
  })
  after(async () => {
    await Promise.all(honeypots.map((h) => h.stop()))
    await Promise.all(pools.map((db) => db.close()))
    await dropTestDatabase(postgresTestUrl(), url)
  })

  it('records every visitor of either once, each honeypot’s events under its own ID, nothing dropped', async () => {
    const relayId = (await newPeer()).id
    const loads = await Promise.all(
      honeypots.map((h) =>
        flood({
          target: honeypotAddr(h).toString(),
          relayId,
          pool: 16,
          connectionsPerPoolPeer: 20,
          fresh: 40,
        }),
      ),
    )
    const identities = new Set(loads.flatMap((l) => l.result.peerIds))
    const db = pools[0]!
    await until(
      'every identity to be a candidate',
      async () => {
        const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM remote_candidates')
        return row!.n === identities.size
      },
      60_000,
    )
    await Promise.all(loads.map((l) => l.release()))
    await until('both honeypots to write every event', () =>
      honeypots.every((h) => h.backlog.pendingEvents === 0),
    )

    const candidates = await db.query<{ multi_hash: string }>(
      'SELECT p.multi_hash FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id ORDER BY 1',
    )
    assert.deepEqual(
      candidates.map((c) => c.multi_hash),
      [...identities].sort(),
    )
    const byHoneypot = await db.query<{ honeypot: string; peers: number }>(
      `SELECT p.multi_hash AS honeypot, count(DISTINCT e.remote_id)::int AS peers
       FROM connection_events e JOIN peers p ON p.id = e.honeypot_id GROUP BY 1 ORDER BY 1`,
    )
    assert.deepEqual(
      byHoneypot.map((r) => [r.honeypot, r.peers]),
      honeypots
        .map((h, i) => [h.node.peerId.toString(), loads[i]!.result.peerIds.length] as const)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    )
    for (const h of honeypots) {
      const dropped = (await h.metrics.dropped.get()).values.reduce((n, v) => n + v.value, 0)
      assert.equal(dropped, 0, 'no event dropped (a failed batch would be)')
    }
  })
})
