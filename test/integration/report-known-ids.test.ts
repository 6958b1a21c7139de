// The ids of peers and addresses a server remembers between report batches (KnownIds in
// src/db/report-batch.ts): a batch whose peers and addresses are all known skips their lookups
// and stores the same rows; ids are learnt only from batches that committed.
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { addApiKey } from '../../src/db/authorizations.js'
import { registerClient } from '../../src/db/clients.js'
import type { Database } from '../../src/db/database.js'
import type { HolePunchOutcomeName } from '../../src/db/hole-punches.js'
import { upsertPeerIds } from '../../src/db/peers.js'
import { insertHolePunchReports, KnownIds } from '../../src/db/report-batch.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { sampleReports } from '../support/sample-reports.js'

const noGeo = () => ({ country: null, asn: null })

/** `db`, with the texts of the statements run through it and its transactions. */
function recording(db: Database): { db: Database; statements: string[] } {
  const statements: string[] = []
  return {
    statements,
    db: {
      ...db,
      query: (sql, params, options) => {
        statements.push(sql)
        return db.query(sql, params, options)
      },
      transaction: (fn) =>
        db.transaction((tx) =>
          fn({
            query: (sql, params, options) => {
              statements.push(sql)
              return tx.query(sql, params, options)
            },
          }),
        ),
    },
  }
}

const LOOKUPS = [/INSERT INTO peers/, /FROM multi_addresses WHERE maddr/, /INSERT INTO multi_addresses/]

describeEachDatabase('report batches with known ids', (getDb) => {
  it('skips the peer and address lookups of a batch it knows every id of, and stores the same rows', async () => {
    const db = getDb()
    const { authorization } = await addApiKey(db, 'known-ids')
    const host = await newPeer()
    const [hostPeer] = await upsertPeerIds(db, [host.id])
    const clientId = await registerClient(db, hostPeer!, authorization.id)
    const remotes = await Promise.all(Array.from({ length: 3 }, () => newPeer()))
    const known = new KnownIds()

    const first = recording(db)
    await insertHolePunchReports(first.db, sampleReports(clientId, remotes, 'first').slice(0, 10), noGeo, {
      known,
    })
    assert.ok(
      LOOKUPS.every((lookup) => first.statements.some((sql) => lookup.test(sql))),
      'the first batch looks everything up',
    )
    const peers = await db.query<{ id: number; multi_hash: string }>(
      'SELECT id::int AS id, multi_hash FROM peers WHERE multi_hash = ANY($1::text[])',
      [remotes.map((r) => r.id)],
    )
    for (const peer of peers) assert.equal(known.peers.get(peer.multi_hash), peer.id)
    const [address] = await db.query<{ id: number }>(
      `SELECT id::int AS id FROM multi_addresses WHERE maddr = '/ip4/11.10.0.1/tcp/4001'`,
    )
    assert.equal(known.addresses.get('/ip4/11.10.0.1/tcp/4001'), address!.id)

    // Other reports (another label, so other digests) over the same peers and addresses.
    const second = recording(db)
    const ids = await insertHolePunchReports(
      second.db,
      sampleReports(clientId, remotes, 'second').slice(0, 10),
      noGeo,
      { known },
    )
    assert.equal(ids.filter((id) => id !== undefined).length, 10)
    for (const lookup of LOOKUPS)
      assert.ok(!second.statements.some((sql) => lookup.test(sql)), `no statement matching ${lookup}`)
    assert.ok(second.statements.length < first.statements.length)
    // Both batches' rows point at the same peers and addresses.
    const links = await db.query<{ label: string; remotes: number; addresses: number }>(
      `SELECT CASE WHEN r.id = ANY($1::bigint[]) THEN 'second' ELSE 'first' END AS label,
              count(DISTINCT r.remote_id)::int AS remotes, count(DISTINCT x.multi_address_id)::int AS addresses
       FROM hole_punch_results r JOIN hole_punch_attempts a ON a.hole_punch_result_id = r.id
       JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = a.id
       WHERE r.client_id = $2 GROUP BY 1 ORDER BY 1`,
      [ids, clientId],
    )
    assert.deepEqual(links, [
      { label: 'first', remotes: 3, addresses: 1 },
      { label: 'second', remotes: 3, addresses: 1 },
    ])
  })

  it('learns no id from a batch that rolled back', async () => {
    const db = getDb()
    const remotes = await Promise.all(Array.from({ length: 2 }, () => newPeer()))
    const known = new KnownIds()
    const [client] = await db.query<{ id: number }>('SELECT id::int AS id FROM clients LIMIT 1')
    // An outcome the database's enum lacks fails the result rows, after the peers and
    // addresses were inserted.
    const reports = sampleReports(client!.id, remotes, 'rolled back').map((r) => ({
      ...r,
      outcome: 'NOT_AN_OUTCOME' as HolePunchOutcomeName,
    }))
    await assert.rejects(insertHolePunchReports(db, reports, noGeo, { known }), /enum/)
    assert.equal(known.peers.size, 0)
    assert.equal(known.addresses.size, 0)
    const stored = await db.query('SELECT 1 FROM peers WHERE multi_hash = ANY($1::text[])', [
      remotes.map((r) => r.id),
    ])
    assert.equal(stored.length, 0, 'the peers were rolled back with the batch')
  })
})
