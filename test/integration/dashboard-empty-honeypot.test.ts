// A real honeypot feeds a new campaign's status: it writes its heartbeat (honeypot_heartbeats)
// at start, after its walks over a small loopback DHT and at its stop, and the server's
// /api/campaign-status on the same database reads it — walking, then the peer it recorded
// counted and ready to hand out, then stopped. A honeypot without bootstrap peers says it
// does not walk.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import type { Libp2p } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { latestHoneypotHeartbeats } from '../../src/db/honeypot-heartbeats.js'
import type { Honeypot } from '../../src/honeypot/honeypot.js'
import { describeEachDatabase } from '../support/databases.js'
import { dhtServer, honeypotAddr, relayAddr, startLoopbackHoneypot, visitor } from '../support/dht.js'
import { newPeer } from '../support/fixtures.js'
import { startTestServer, type TestServer } from '../support/server.js'
import { until } from '../support/until.js'

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
type Json = any

describeEachDatabase('a real honeypot’s heartbeat in the campaign status', (getDb) => {
  let dht: Libp2p<{ dht: SingleKadDHT }>[] = []
  let honeypot: Honeypot
  let t: TestServer
  const nodes: Libp2p[] = []

  const status = async (): Promise<Json> => (await fetch(`${t.httpUrl}/api/campaign-status`)).json()
  const mine = (s: Json) => s.honeypot.honeypots.find((h: Json) => h.peerId === honeypot.peerId.toString())

  before(async () => {
    t = await startTestServer(getDb())
    dht = await Promise.all([dhtServer(), dhtServer()])
    await dht[1]!.dial(dht[0]!.getMultiaddrs()[0]!)
    honeypot = await startLoopbackHoneypot(getDb(), {
      bootstrapPeers: [dht[0]!.getMultiaddrs()[0]!],
      walkInterval: 300,
    })
  })
  after(async () => {
    await honeypot?.stop()
    await Promise.all([...nodes, ...dht].map((n) => n.stop()))
    await t?.stop()
  })

  it('writes its heartbeat once it listens and after its walks: the status says it walks', async () => {
    await until('a walk in the heartbeat', async () => mine(await status())?.lastWalkResult === 'ok')
    const s = await status()
    assert.equal(s.honeypot.state, 'walking')
    const beat = mine(s)
    assert.equal(beat.state, 'walking')
    assert.ok(Date.parse(beat.lastWalkAt) >= Date.parse(beat.startedAt), 'walked after it started')
    assert.ok(Date.now() - Date.parse(beat.beatAt) < 60_000, 'beat just now')
    // Nothing recorded yet: walking alone readies no remote.
    assert.deepEqual([s.peers.recorded, s.remotes.ready, s.checklist.remotesReady], [0, 0, false])
  })

  it('a DCUtR peer behind a relay that connects is recorded: counted, ready, and in the next beat', async () => {
    const remote = await visitor({ announce: [relayAddr((await newPeer()).id)] })
    nodes.push(remote)
    await remote.dial(honeypotAddr(honeypot))
    await until('the remote to be ready', async () => (await status()).remotes.ready === 1)
    const s = await status()
    assert.deepEqual([s.peers.recorded, s.peers.lastHour, s.checklist.remotesReady], [1, 1, true])
    // The next walk's beat carries the stored event.
    await until('the event count in the heartbeat', async () => mine(await status()).eventsRecorded >= 1)
  })

  it('stopping writes a last beat, marked stopped', async () => {
    await honeypot.stop()
    const [row] = (await latestHoneypotHeartbeats(getDb(), 10)).filter(
      (b) => b.peerId === honeypot.peerId.toString(),
    )
    assert.ok(row?.stoppedAt !== undefined, 'stopped_at is set')
    assert.ok(row.eventsRecorded >= 1)
    const s = await status()
    assert.equal(mine(s).state, 'stopped')
    assert.equal(s.honeypot.state, 'stopped')
  })

  it('a honeypot without bootstrap peers says it runs but does not walk', async () => {
    const idle = await startLoopbackHoneypot(getDb(), { bootstrapPeers: [] })
    try {
      // The first beat is written as the honeypot starts listening, without holding start() up.
      await until('its first beat', async () => (await status()).honeypot.state === 'not walking')
      const beat = (await status()).honeypot.honeypots.find((h: Json) => h.peerId === idle.peerId.toString())
      assert.deepEqual([beat.state, beat.lastWalkAt, beat.lastWalkResult], ['not walking', null, null])
    } finally {
      await idle.stop()
    }
  })
})
