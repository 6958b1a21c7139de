// The honeypot on 127.0.0.1 with real js-libp2p nodes and a real database: it joins a small
// DHT of five servers by walking it and ends up in their routing tables; then peers connect
// to it and exactly the DCUtR-capable relay-only ones are recorded, which the server then
// hands out through GetAddrInfo.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Honeypot } from '../../src/honeypot/honeypot.js'
import { logger } from '../../src/lib/logger.js'
import { describeEachDatabase } from '../support/databases.js'
import { dhtServer, honeypotAddr, relayAddr, startLoopbackHoneypot, visitor } from '../support/dht.js'
import { newPeer } from '../support/fixtures.js'
import { startTestServer } from '../support/server.js'
import { until } from '../support/until.js'

/** The sum of a counter's values, optionally of one label value. */
async function counted(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0)
}

/** kad-dht's RoutingTable has find(); its exported type shows only the size. */
function inRoutingTable(node: Libp2p<{ dht: SingleKadDHT }>, peer: PeerId): Promise<boolean> {
  const table = node.services.dht.routingTable as unknown as { find(p: PeerId): Promise<PeerId | undefined> }
  return table.find(peer).then((found) => found !== undefined)
}

describeEachDatabase('honeypot on a loopback DHT', (getDb) => {
  let dht: Libp2p<{ dht: SingleKadDHT }>[] = []
  let honeypot: Honeypot
  const peers: Libp2p[] = []
  let relayId: string

  /** Starts a peer, dials the honeypot with it, and waits until the honeypot judged it. */
  async function connect(peer: Libp2p): Promise<void> {
    peers.push(peer)
    const judged = await counted(honeypot.metrics.inbound)
    await peer.dial(honeypotAddr(honeypot))
    await until(
      'the honeypot to judge the connection',
      async () => (await counted(honeypot.metrics.inbound)) > judged,
    )
    await until('the event to be written', () => honeypot.backlog.pendingEvents === 0)
  }

  async function eventsOf(peer: Libp2p) {
    return getDb().query<{ agent_version: string; protocols: string[]; conn_addr: string; honeypot: string }>(
      `SELECT ce.agent_version, ce.protocols, ma.maddr AS conn_addr, h.multi_hash AS honeypot
       FROM connection_events ce JOIN peers p ON p.id = ce.remote_id
       LEFT JOIN multi_addresses ma ON ma.id = ce.multi_address_id
       LEFT JOIN peers h ON h.id = ce.honeypot_id
       WHERE p.multi_hash = $1 ORDER BY ce.opened_at, ce.id`,
      [peer.peerId.toString()],
    )
  }

  before(async () => {
    relayId = (await newPeer()).id
    dht = await Promise.all(Array.from({ length: 5 }, () => dhtServer()))
    for (const node of dht.slice(1)) await node.dial(dht[0]!.getMultiaddrs()[0]!)
    await until('node 0 to know the other four', () => dht[0]!.services.dht.routingTable.size === 4)
    honeypot = await startLoopbackHoneypot(getDb(), {
      bootstrapPeers: [dht[0]!.getMultiaddrs()[0]!],
      walkInterval: 500,
    })
  })

  after(async () => {
    await honeypot?.stop()
    await Promise.all([...peers, ...dht].map((n) => n.stop()))
  })

  it('walks the DHT from its bootstrap peer and ends up in every DHT node’s routing table', async () => {
    await until(
      'a successful walk',
      async () => (await counted(honeypot.metrics.walks, { result: 'ok' })) >= 1,
    )
    for (const [i, node] of dht.entries()) {
      await until(`DHT node ${i} to hold the honeypot in its routing table`, () =>
        inRoutingTable(node, honeypot.peerId),
      )
    }
    assert.equal(honeypot.node.services.dht.routingTable.size, 5, 'and the honeypot knows all five')
    assert.ok((await counted(honeypot.metrics.walkPeers)) >= 5, 'its walks reached the DHT nodes')
    assert.equal(honeypot.node.services.dht.getMode(), 'server')
  })

  it('records exactly the DCUtR-capable relay-only peer; the server hands it out with its relay address', async () => {
    const relayOnly = await visitor({ announce: [relayAddr(relayId, 1)], agentVersion: 'test-remote/1.0' })
    const publicToo = await visitor({ announce: [relayAddr(relayId, 2), '/ip4/11.0.0.5/tcp/4001'] })
    const noDcutr = await visitor({ dcutr: false, announce: [relayAddr(relayId, 3)] })
    const results = async () =>
      Object.fromEntries(
        await Promise.all(
          ['recorded', 'public', 'not_dcutr'].map(async (r) => [
            r,
            await counted(honeypot.metrics.inbound, { result: r }),
          ]),
        ),
      )
    const before = await results()
    const started = Date.now()
    for (const peer of [relayOnly, publicToo, noDcutr]) await connect(peer)
    const after = await results()
    // DHT nodes connect too (not_dcutr), so the three are told apart by their own rows below.
    assert.equal(after.recorded - before.recorded, 1)
    assert.equal(after.public - before.public, 1)
    assert.ok(after.not_dcutr - before.not_dcutr >= 1)
    assert.equal((await eventsOf(publicToo)).length, 0)
    assert.equal((await eventsOf(noDcutr)).length, 0)

    const [event, ...more] = await eventsOf(relayOnly)
    assert.equal(more.length, 0)
    assert.equal(event!.agent_version, 'test-remote/1.0')
    assert.ok(event!.protocols.includes('/libp2p/dcutr'))
    assert.deepEqual(event!.protocols, [...event!.protocols].sort())
    assert.match(event!.conn_addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/, 'the connection’s remote address')
    assert.equal(event!.honeypot, honeypot.peerId.toString())
    const relayOnlyAddr = `${relayAddr(relayId, 1)}/p2p/${relayOnly.peerId.toString()}`
    const advertised = await getDb().query<{ maddr: string; is_relay: boolean; opened_at: Date }>(
      `SELECT ma.maddr, ma.is_relay, ce.opened_at FROM connection_events ce
       JOIN peers p ON p.id = ce.remote_id
       JOIN connection_events_x_multi_addresses x ON x.connection_event_id = ce.id
       JOIN multi_addresses ma ON ma.id = x.multi_address_id
       WHERE p.multi_hash = $1`,
      [relayOnly.peerId.toString()],
    )
    assert.deepEqual(
      advertised.map((a) => [a.maddr, a.is_relay]),
      [[relayOnlyAddr, true]],
    )
    const openedAt = new Date(advertised[0]!.opened_at).getTime()
    assert.ok(openedAt >= started - 1000 && openedAt <= Date.now(), 'opened_at is when the connection opened')

    const candidates = await getDb().query<{ multi_hash: string }>(
      'SELECT p.multi_hash FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id',
    )
    assert.deepEqual(
      candidates.map((c) => c.multi_hash),
      [relayOnly.peerId.toString()],
    )

    const server = await startTestServer(getDb())
    try {
      const key = await server.addKey()
      const host = await newPeer()
      await server.client.register({
        clientId: host.bytes,
        agentVersion: 'punchr/go-client/0.7.0',
        apiKey: key,
      })
      const res = await server.client.getAddrInfo({
        hostId: host.bytes,
        allHostIds: [host.bytes],
        apiKey: key,
      })
      assert.deepEqual(res.remoteId, relayOnly.peerId.toMultihash().bytes)
      assert.deepEqual(
        res.multiAddresses.map((b) => multiaddr(b).toString()),
        [relayOnlyAddr],
      )
    } finally {
      await server.stop()
    }
  })

  it('keeps a peer’s agent versions as history when it comes back with another', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const first = await visitor({
      privateKey,
      announce: [relayAddr(relayId, 4)],
      agentVersion: 'test-remote/1.0',
    })
    await connect(first)
    await first.stop()
    const second = await visitor({
      privateKey,
      announce: [relayAddr(relayId, 4)],
      agentVersion: 'test-remote/2.0',
    })
    await connect(second)
    assert.deepEqual(
      (await eventsOf(second)).map((e) => e.agent_version),
      ['test-remote/1.0', 'test-remote/2.0'],
    )
    const [peer] = await getDb().query<{ agent_version: string }>(
      'SELECT agent_version FROM peers WHERE multi_hash = $1',
      [second.peerId.toString()],
    )
    assert.equal(peer!.agent_version, 'test-remote/2.0', 'the peer row has the latest')
  })

  it('records a peer when an identify push shows it now speaks DCUtR', async () => {
    const late = await visitor({ dcutr: false, announce: [relayAddr(relayId, 5)] })
    await connect(late)
    assert.equal((await eventsOf(late)).length, 0)
    const recorded = await counted(honeypot.metrics.updates, { result: 'recorded' })
    // Registering a protocol makes libp2p push identify to connected peers.
    await late.handle('/libp2p/dcutr', () => undefined)
    await until(
      'the pushed update',
      async () => (await counted(honeypot.metrics.updates, { result: 'recorded' })) > recorded,
    )
    await until('the event to be written', () => honeypot.backlog.pendingEvents === 0)
    const events = await eventsOf(late)
    assert.equal(events.length, 1)
    assert.ok(events[0]!.protocols.includes('/libp2p/dcutr'))
  })

  it('counts a connection that closes without identify, and forgets it', async () => {
    // A peer without identify: the honeypot's identify on it fails, no peer:identify comes.
    const silent = await createLibp2p({
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    })
    peers.push(silent)
    const closedBefore = await counted(honeypot.metrics.inbound, { result: 'closed_before_identify' })
    const connection = await silent.dial(honeypotAddr(honeypot))
    await connection.close()
    await until(
      'the close to be counted',
      async () =>
        (await counted(honeypot.metrics.inbound, { result: 'closed_before_identify' })) > closedBefore,
    )
    // Nothing is left behind: the recorder tracks exactly the open inbound connections.
    const inbound = () => honeypot.node.getConnections().filter((c) => c.direction === 'inbound').length
    assert.equal(honeypot.backlog.trackedConnections, inbound())
  })

  it('keeps walking while its bootstrap peer is unreachable, and stops walking on stop()', async () => {
    const gone = await newPeer()
    const lonely = await startLoopbackHoneypot(
      getDb(),
      { bootstrapPeers: [multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${gone.id}`)], walkInterval: 20 },
      { bootstrapTimeout: 1000 },
      logger('honeypot').child({}, { level: 'error' }), // its walk warnings are the point here
    )
    try {
      await until(
        'three failed walks',
        async () => (await counted(lonely.metrics.walks, { result: 'no_peers' })) >= 3,
      )
    } finally {
      await lonely.stop()
    }
    const walks = await counted(lonely.metrics.walks)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(await counted(lonely.metrics.walks), walks, 'no walk after stop()')
  })

  it('serves /metrics and /healthz', async () => {
    const base = `http://127.0.0.1:${honeypot.httpPort}`
    const health = await fetch(`${base}/healthz`)
    assert.equal(health.status, 200)
    const body = (await health.json()) as { status: string; peerId: string; routingTable: number }
    assert.equal(body.status, 'ok')
    assert.equal(body.peerId, honeypot.peerId.toString())
    const metrics = await (await fetch(`${base}/metrics`)).text()
    for (const name of [
      'punchr_honeypot_inbound_connections_total{result="recorded"}',
      'punchr_honeypot_recorded_events_total',
      'punchr_honeypot_write_batches_total{result="ok"}',
      'punchr_honeypot_walks_total{result="ok"}',
      'punchr_honeypot_walk_duration_seconds_count',
      'punchr_honeypot_routing_table_size 5',
      'punchr_honeypot_candidates',
    ]) {
      assert.ok(metrics.includes(name), `${name} in /metrics`)
    }
  })
})
