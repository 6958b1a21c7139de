import assert from 'node:assert/strict'
import { beforeEach, it } from 'node:test'
import { allocateRemote, maintainAllocationTables, pruneStaleCandidates } from '../../src/db/allocation.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { registerClient } from '../../src/db/clients.js'
import type { Database } from '../../src/db/database.js'
import { upsertPeer } from '../../src/db/peers.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'

const _noGeo = () => ({ country: null, asn: null })

async function clientHost(db: Database, authorizationId: number): Promise<number> {
  const peer = await newPeer()
  return registerClient(
    db,
    await upsertPeer(db, { multiHash: peer.id, agentVersion: 'test' }),
    authorizationId,
  )
}

describeEachDatabase('allocation (docs/PROTOCOL.md, "Allocation")', (getDb) => {
  let db: Database
  let authId: number
  let hostA: number
  let hostB: number

  beforeEach(async () => {
    db = getDb()
    await db.query('DELETE FROM allocations')
    await db.query('DELETE FROM remote_candidates')
    authId = (await addApiKey(db, 'alloc')).authorization.id
    hostA = await clientHost(db, authId)
    hostB = await clientHost(db, authId)
  })

  it('hands out nothing when no remote is eligible', async () => {
    assert.equal(
      await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }),
      undefined,
    )
  })

  it('hands out a DCUtR remote with all its relay addrs, and records the hand-out', async () => {
    const remote = await newPeer()
    const addrs = await seenByHoneypot(db, remote, { relays: 2 })
    const got = await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [4, 6] })
    assert.deepEqual(got, { remoteMultiHash: remote.id, relayAddrs: addrs, protocols: [4, 6] })
    const rows = await db.query<{ protocols: number[] }>(
      'SELECT protocols FROM allocations WHERE client_id = $1',
      [hostA],
    )
    assert.equal(rows.length, 2)
    assert.deepEqual(rows[0]!.protocols, [4, 6])
  })

  it('draws the filter among the IP versions the remote showed the honeypot, which add up', async () => {
    const v4 = await newPeer()
    await seenByHoneypot(db, v4, { connectionAddr: '/ip4/11.0.0.9/tcp/4001' })
    const relayedOnly = await newPeer()
    await seenByHoneypot(db, relayedOnly)
    const both = await newPeer()
    await seenByHoneypot(db, both, { connectionAddr: '/ip6/2600:1::9/tcp/4001' })
    // A second visit over IPv4 adds to what the first showed.
    await seenByHoneypot(db, both, { connectionAddr: '/ip4/11.0.0.10/tcp/4001' })
    // Private addresses say nothing about reaching the remote from elsewhere.
    const lan = await newPeer()
    await seenByHoneypot(db, lan, { connectionAddr: '/ip6/fd00::9/tcp/4001' })

    const offered = new Map<string, number[]>()
    for (let i = 0; i < 4; i++) {
      let versions: number[] = []
      const got = await allocateRemote(db, {
        clientId: hostA,
        hostClientIds: [hostA],
        protocols: (remote) => {
          versions = [...remote].sort()
          return remote.has(6) ? [41, 6] : []
        },
      })
      offered.set(got!.remoteMultiHash, versions)
      assert.deepEqual(got!.protocols, versions.includes(6) ? [41, 6] : [])
    }
    assert.deepEqual(offered.get(v4.id), [4])
    assert.deepEqual(offered.get(relayedOnly.id), [])
    assert.deepEqual(offered.get(both.id), [4, 6])
    assert.deepEqual(offered.get(lan.id), [])
    const recorded = await db.query<{ protocols: number[] }>(
      'SELECT DISTINCT protocols FROM allocations WHERE client_id = $1 ORDER BY protocols',
      [hostA],
    )
    assert.deepEqual(
      recorded.map((r) => r.protocols),
      [[], [41, 6]],
    )
  })

  it('skips peers without /libp2p/dcutr or without relay addrs', async () => {
    await seenByHoneypot(db, await newPeer(), { protocols: ['/ipfs/id/1.0.0'] })
    await seenByHoneypot(db, await newPeer(), { relays: 0 })
    assert.equal(
      await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }),
      undefined,
    )
  })

  it('skips remotes not seen by a honeypot within 10 minutes; the prune deletes them and only them', async () => {
    const stale = await newPeer()
    await seenByHoneypot(db, stale, { minutesAgo: 11 })
    assert.equal(
      await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }),
      undefined,
    )
    const fresh = await newPeer()
    await seenByHoneypot(db, fresh, { minutesAgo: 9 })
    assert.equal(await pruneStaleCandidates(db), 1)
    const left = await db.query<{ multi_hash: string }>(
      'SELECT p.multi_hash FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id',
    )
    assert.deepEqual(
      left.map((r) => r.multi_hash),
      [fresh.id],
    )
    assert.equal(await pruneStaleCandidates(db), 0)
  })

  it('serves the least recently handed-out remote first (fair rotation)', async () => {
    const remotes = [await newPeer(), await newPeer(), await newPeer()]
    for (const r of remotes) await seenByHoneypot(db, r)
    const hosts = await Promise.all(Array.from({ length: 6 }, () => clientHost(db, authId)))
    const served: string[] = []
    for (const host of hosts) {
      const got = await allocateRemote(db, { clientId: host, hostClientIds: [host], protocols: [] })
      served.push(got!.remoteMultiHash)
    }
    // Every remote gets its turn before any gets a second one.
    assert.equal(new Set(served.slice(0, 3)).size, 3)
    assert.deepEqual(served.slice(3), served.slice(0, 3))
  })

  it('concurrent callers never get the same remote while others are waiting (no READ COMMITTED recheck race)', async () => {
    const remotes = await Promise.all(Array.from({ length: 60 }, () => newPeer()))
    for (const r of remotes) await seenByHoneypot(db, r)
    const hosts = await Promise.all(Array.from({ length: 48 }, () => clientHost(db, authId)))
    const served = await Promise.all(
      hosts.map((host) => allocateRemote(db, { clientId: host, hostClientIds: [host], protocols: [] })),
    )
    const ids = served.map((a) => a?.remoteMultiHash)
    assert.ok(ids.every((id) => id !== undefined))
    assert.equal(new Set(ids).size, ids.length, 'a remote was handed out twice although 60 were eligible')
    assert.ok(served.every((a) => a!.relayAddrs.length === 1))
  })

  it('vacuuming the working set leaves allocation working', async () => {
    const remote = await newPeer()
    await seenByHoneypot(db, remote)
    await maintainAllocationTables(db)
    assert.equal(
      (await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }))?.remoteMultiHash,
      remote.id,
    )
  })

  it('excludes (remote, relay addr) pairs any host of the same client tried in the last 10 minutes', async () => {
    const remote = await newPeer()
    await seenByHoneypot(db, remote)
    assert.ok(await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA, hostB], protocols: [] }))
    // hostB belongs to the same client and says so: nothing left for it.
    assert.equal(
      await allocateRemote(db, { clientId: hostB, hostClientIds: [hostA, hostB], protocols: [] }),
      undefined,
    )
    // A host of another client still gets the remote.
    const other = await clientHost(db, (await addApiKey(db, 'other')).authorization.id)
    assert.equal(
      (await allocateRemote(db, { clientId: other, hostClientIds: [other], protocols: [] }))?.remoteMultiHash,
      remote.id,
    )
  })

  it('returns only the relay addrs the client has not tried yet', async () => {
    const remote = await newPeer()
    const [first] = await seenByHoneypot(db, remote)
    assert.deepEqual(
      (await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }))?.relayAddrs,
      [first],
    )
    // The remote comes back through a second relay as well.
    const addrs = await seenByHoneypot(db, remote, { relays: 2 })
    const got = await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] })
    assert.deepEqual(
      got?.relayAddrs,
      addrs.filter((a) => a !== first),
    )
  })

  it('tried pairs older than 10 minutes no longer exclude', async () => {
    const remote = await newPeer()
    await seenByHoneypot(db, remote)
    await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] })
    await db.query(`UPDATE allocations SET allocated_at = now() - interval '11 minutes'`)
    assert.equal(
      (await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }))?.remoteMultiHash,
      remote.id,
    )
  })

  it('skips a remote with 10 results in the last minute (by anyone), not one with 9', async () => {
    const busy = await newPeer()
    await seenByHoneypot(db, busy)
    const busyId = await upsertPeer(db, { multiHash: busy.id })
    const insertResults = (n: number, secondsAgo: number) =>
      db.query(
        `INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, outcome, ended_at, attempt_count, report_sha256, created_at)
         SELECT $1, $2, now(), now(), false, 'FAILED', now(), 0, gen_random_uuid()::text::bytea, now() - make_interval(secs => $4)
         FROM generate_series(1, $3)`,
        [hostB, busyId, n, secondsAgo],
      )
    await insertResults(9, 5)
    assert.equal(
      (await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }))?.remoteMultiHash,
      busy.id,
    )
    await db.query('DELETE FROM allocations')
    await insertResults(1, 5)
    assert.equal(
      await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }),
      undefined,
    )
    // Results older than a minute do not count.
    await db.query(
      `UPDATE hole_punch_results SET created_at = now() - interval '2 minutes' WHERE remote_id = $1`,
      [busyId],
    )
    assert.equal(
      (await allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }))?.remoteMultiHash,
      busy.id,
    )
  })

  it('an operator policy can let a client retry a pair at once and raise the per-remote rate cap', async () => {
    const remote = await newPeer()
    await seenByHoneypot(db, remote)
    const remoteId = await upsertPeer(db, { multiHash: remote.id })
    const policy = { retryPairAfterSeconds: 0, maxResultsPerRemotePerMinute: 3 }
    const ask = () => allocateRemote(db, { clientId: hostA, hostClientIds: [hostA], protocols: [] }, policy)
    assert.equal((await ask())?.remoteMultiHash, remote.id)
    assert.equal((await ask())?.remoteMultiHash, remote.id, 'the pair it just tried comes back')
    await db.query(
      `INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, outcome, ended_at, attempt_count, report_sha256)
       SELECT $1, $2, now(), now(), false, 'FAILED', now(), 0, gen_random_uuid()::text::bytea FROM generate_series(1, 3)`,
      [hostA, remoteId],
    )
    assert.equal(await ask(), undefined, 'three results in the last minute reach the cap of 3')
  })
})
