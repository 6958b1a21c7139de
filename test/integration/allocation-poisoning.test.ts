// Address poisoning (docs/SECURITY.md): a remote advertises relay addresses whose "relay" is a
// victim, so that every client handed the remote opens a connection to the victim. These
// tests store such remotes exactly as the honeypot does and check what GetAddrInfo's
// allocation hands out: no hop that is not a public IP, one address per hop endpoint, a capped
// list, a bounded number of addresses at one hop IP per minute however many identities list
// it — and honest remotes unaffected.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { allocateRemote, DEFAULT_ALLOCATION_POLICY } from '../../src/db/allocation.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { registerClient } from '../../src/db/clients.js'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { upsertPeer } from '../../src/db/peers.js'
import {
  MAX_PICKS_PER_ALLOCATION,
  MAX_RELAY_ADDRS_PER_RESPONSE,
  relayHopEndpoint,
} from '../../src/db/relay-hops.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { describeEachDatabase, postgresTestUrl } from '../support/databases.js'
import { newPeer, type TestPeer } from '../support/fixtures.js'
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js'

/** Stores what the honeypot stores for a DCUtR remote advertising these relay addresses. */
async function advertisesAddrs(db: Database, remote: TestPeer, addrs: readonly string[]): Promise<string[]> {
  const classified = addrs.map((a) => classifyMultiaddr(multiaddr(a)))
  await recordConnectionEvent(
    db,
    {
      remoteId: remote.id,
      agentVersion: 'kubo/0.30.0',
      protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
      listenAddrs: classified,
      connectionAddr: null,
      openedAt: new Date(),
    },
    () => ({ country: null, asn: null }),
  )
  return classified.map((a) => a.maddr)
}

/** The same, for relay hops all on one relay peer ID (honeypot form: …/p2p/<relay>/p2p-circuit/p2p/<remote>). */
async function advertises(db: Database, remote: TestPeer, hops: readonly string[]): Promise<string[]> {
  const relay = await newPeer()
  return advertisesAddrs(
    db,
    remote,
    hops.map((hop) => `${hop}/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`),
  )
}

/** What a kubo peer with reservations on two public relays advertises: 2 × 8 addresses. */
function honestHops(n: number): string[] {
  return [`/ip4/11.0.0.${n}`, `/ip4/11.0.0.${n + 100}`].flatMap((relayIp, i) =>
    [relayIp, `/ip6/2001:4860:${n}:${i}::1`].flatMap((ip) =>
      ['/tcp/4001', '/udp/4001/quic-v1', '/udp/4001/quic-v1/webtransport', '/udp/4001/webrtc-direct'].map(
        (t) => `${ip}${t}`,
      ),
    ),
  )
}

// Hops in the dialling client's own network or machine, and a DNS name (which may resolve to one).
const PRIVATE_HOPS = [
  '/ip4/192.168.1.1/tcp/80',
  '/ip4/10.0.0.1/tcp/22',
  '/ip4/172.16.5.4/tcp/443',
  '/ip4/127.0.0.1/tcp/631',
  '/ip4/169.254.169.254/tcp/80',
  '/ip4/100.64.0.1/tcp/80',
  '/ip4/0.0.0.0/tcp/80',
  '/ip6/::1/tcp/8080',
  '/ip6/fe80::1/tcp/80',
  '/ip6/fd00::1/tcp/80',
  '/ip6/::ffff:192.168.1.1/tcp/80',
  '/dns4/localhost/tcp/80',
  '/dns4/router.example/tcp/80',
]

describeEachDatabase('allocation against address poisoning', (getDb) => {
  let db: Database
  let authId: number
  let hostIds: number[]
  let nextHost: number

  /** A fresh client host each call, so the "pair tried" exclusion never interferes. */
  const ask = (hopBudget?: number, privateRelayHops = false) => {
    const host = hostIds[nextHost++]!
    return allocateRemote(
      db,
      { clientId: host, hostClientIds: [host], protocols: [], privateRelayHops },
      { ...DEFAULT_ALLOCATION_POLICY, maxRelayAddrsPerHopPerMinute: hopBudget },
    )
  }

  beforeEach(async () => {
    db = getDb()
    await db.query('DELETE FROM allocations')
    await db.query('DELETE FROM remote_candidates')
    await db.query('DELETE FROM relay_hop_handouts')
    authId = (await addApiKey(db, 'poison')).authorization.id
    hostIds = []
    for (let i = 0; i < 40; i++) {
      const peer = await newPeer()
      hostIds.push(
        await registerClient(db, await upsertPeer(db, { multiHash: peer.id, agentVersion: 'test' }), authId),
      )
    }
    nextHost = 0
  })

  it('hands out an honest peer’s 16 relay addresses whole and in its order', async () => {
    const honest = await newPeer()
    const addrs = await advertises(db, honest, honestHops(1))
    assert.deepEqual(await ask(), {
      remoteMultiHash: honest.id,
      relayAddrs: addrs,
      protocols: [],
    })
  })

  it('never hands out a relay hop that is not a public IP address; the public ones of the same peer still go out', async () => {
    const poisoner = await newPeer()
    const addrs = await advertises(db, poisoner, [...PRIVATE_HOPS, '/ip4/11.0.0.9/tcp/4001'])
    const got = await ask()
    assert.deepEqual(got?.relayAddrs, [addrs.at(-1)])
    const handedOut = await db.query<{ maddr: string }>(
      'SELECT ma.maddr FROM allocations a JOIN multi_addresses ma ON ma.id = a.multi_address_id',
    )
    assert.deepEqual(
      handedOut.map((r) => r.maddr),
      [addrs.at(-1)],
      'only what was handed out is recorded as tried',
    )
  })

  it('a client on the server’s own machine may get private and loopback hops (the loopback tests, a one-machine testbed)', async () => {
    const local = await newPeer()
    const addrs = await advertises(db, local, ['/ip4/127.0.0.1/tcp/40001', '/ip4/192.168.1.1/tcp/4001'])
    assert.deepEqual((await ask(undefined, true))?.relayAddrs, addrs)
  })

  it(`passes over remotes with no public hop (they move to the back) and hands out the next, within ${MAX_PICKS_PER_ALLOCATION} picks`, async () => {
    const poisoners = await Promise.all(Array.from({ length: 3 }, () => newPeer()))
    for (const p of poisoners) await advertises(db, p, PRIVATE_HOPS)
    const honest = await newPeer()
    const honestAddrs = await advertises(db, honest, honestHops(2))
    // Poisoners first in the rotation (never served), the honest remote last.
    await db.query(`UPDATE remote_candidates SET last_allocated_at = now() - interval '1 hour'`)
    await db.query(
      `UPDATE remote_candidates SET last_allocated_at = NULL
       WHERE peer_id IN (SELECT id FROM peers WHERE multi_hash = ANY($1::text[]))`,
      [poisoners.map((p) => p.id)],
    )
    assert.deepEqual(await ask(), { remoteMultiHash: honest.id, relayAddrs: honestAddrs, protocols: [] })
    const rotated = await db.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM remote_candidates WHERE last_allocated_at > now() - interval '1 minute'`,
    )
    assert.equal(Number(rotated[0]!.n), 4, 'the three poisoners were moved to the back as well')
    // With nothing but poisoners left for this client, a call ends after its picks: NOT_FOUND.
    for (let i = 0; i < MAX_PICKS_PER_ALLOCATION; i++) await advertises(db, await newPeer(), PRIVATE_HOPS)
    await db.query(
      `UPDATE remote_candidates SET last_allocated_at = NULL WHERE peer_id NOT IN
      (SELECT id FROM peers WHERE multi_hash = $1)`,
      [honest.id],
    )
    assert.equal(await ask(), undefined)
  })

  it(`hands out one address per hop endpoint and at most ${MAX_RELAY_ADDRS_PER_RESPONSE} per answer`, async () => {
    const poisoner = await newPeer()
    // ~100 addresses, what fits into identify's 8 KB: one victim socket under 20 relay IDs
    // (each a separate dial), then 80 more ports of the victim.
    const relayIds = await Promise.all(Array.from({ length: 20 }, () => newPeer()))
    const circuit = (hop: string, relay: TestPeer) => `${hop}/p2p/${relay.id}/p2p-circuit/p2p/${poisoner.id}`
    const addrs = await advertisesAddrs(db, poisoner, [
      ...relayIds.map((r) => circuit('/ip4/9.9.9.9/tcp/80', r)),
      ...Array.from({ length: 80 }, (_, i) => circuit(`/ip4/9.9.9.9/tcp/${1000 + i}`, relayIds[0]!)),
    ])
    const got = (await ask())!
    assert.equal(got.relayAddrs.length, MAX_RELAY_ADDRS_PER_RESPONSE)
    const endpoints = got.relayAddrs.map(relayHopEndpoint)
    assert.equal(new Set(endpoints).size, endpoints.length, 'one address per hop endpoint')
    assert.deepEqual(got.relayAddrs, [addrs[0], ...addrs.slice(20, 20 + MAX_RELAY_ADDRS_PER_RESPONSE - 1)])
  })

  it('bounds the addresses at one victim IP per minute however many identities list it; honest remotes are unaffected', async () => {
    const budget = 10
    // 20 identities, each listing 4 ports at the victim 9.9.9.9 (and 2 at the victim's IPv6 /64).
    for (let i = 0; i < 20; i++)
      await advertises(db, await newPeer(), [
        ...[1, 2, 3, 4].map((p) => `/ip4/9.9.9.9/tcp/${p + 4 * i}`),
        `/ip6/2001:4860:9::${i + 1}/tcp/80`,
        `/ip6/2001:4860:9::${i + 100}/tcp/80`,
      ])
    const honest = await Promise.all(Array.from({ length: 4 }, () => newPeer()))
    for (const [i, h] of honest.entries()) await advertises(db, h, honestHops(10 + i))

    const atVictim = { v4: 0, v6: 0 }
    const honestServed = new Set<string>()
    // Calls that find only spent poisoners answer NOT_FOUND (after their picks) and move them
    // to the back: later calls reach the honest remotes.
    for (let call = 0; call < 12; call++) {
      const got = await ask(budget)
      if (got === undefined) continue
      if (honest.some((h) => h.id === got.remoteMultiHash)) {
        honestServed.add(got.remoteMultiHash)
        assert.equal(got.relayAddrs.length, 16, 'an honest remote gets all its addresses')
      }
      for (const a of got.relayAddrs) {
        if (a.startsWith('/ip4/9.9.9.9/')) atVictim.v4++
        if (a.startsWith('/ip6/2001:4860:9::')) atVictim.v6++
      }
    }
    // Each call sees the budget as it was before it: the answer that spends it may carry a few
    // more (one answer's addresses at the victim: 4 IPv4, 2 IPv6 here).
    assert.ok(atVictim.v4 >= 10 && atVictim.v4 <= 10 + 3, `${atVictim.v4} addresses at 9.9.9.9`)
    assert.ok(atVictim.v6 >= 10 && atVictim.v6 <= 10 + 1, `${atVictim.v6} addresses in 2001:4860:9::/64`)
    assert.equal(honestServed.size, honest.length, 'every honest remote was handed out')

    // A minute later the victim's budget is back: the bound is a rate, not a ban.
    await db.query(`UPDATE relay_hop_handouts SET bucket = bucket - interval '61 seconds'`)
    await db.query(`UPDATE remote_candidates SET last_allocated_at = NULL`)
    const later = await ask(budget)
    assert.ok(later?.relayAddrs.some((a) => a.startsWith('/ip4/9.9.9.9/')))
  })
})

describe('the hop budget across server processes (two pools on one PostgreSQL)', () => {
  let url: string
  let replicas: Database[] = []
  before(async () => {
    url = await createTestDatabase(postgresTestUrl())
    replicas = [await openDatabase({ databaseUrl: url }), await openDatabase({ databaseUrl: url })]
    await migrate(replicas[0]!)
  })
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()))
    await dropTestDatabase(postgresTestUrl(), url)
  })

  it('is spent by the hand-outs of all of them together', async () => {
    const [first, second] = replicas as [Database, Database]
    const authId = (await addApiKey(first, 'replicas')).authorization.id
    // 10 identities, each listing 2 ports at the victim 9.9.9.9; a budget of 6 a minute.
    for (let i = 0; i < 10; i++)
      await advertises(first, await newPeer(), [
        `/ip4/9.9.9.9/tcp/${2 * i + 1}`,
        `/ip4/9.9.9.9/tcp/${2 * i + 2}`,
      ])
    let atVictim = 0
    for (let call = 0; call < 10; call++) {
      const replica = call % 2 === 0 ? first : second
      const peer = await newPeer()
      const host = await registerClient(replica, await upsertPeer(replica, { multiHash: peer.id }), authId)
      const got = await allocateRemote(
        replica,
        { clientId: host, hostClientIds: [host], protocols: [] },
        { ...DEFAULT_ALLOCATION_POLICY, maxRelayAddrsPerHopPerMinute: 6 },
      )
      atVictim += got?.relayAddrs.length ?? 0
    }
    // Per process, each would have handed out 6 (12 in all).
    assert.equal(atVictim, 6)
  })
})
