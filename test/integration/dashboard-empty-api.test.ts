// GET /api/campaign-status on a real server over a database that starts empty and goes
// through a new campaign's steps: fresh; a key issued; a honeypot that beats and records peers,
// remotes ready; a result stored. Also: the gRPC address from the request's Host header, the
// commands for the server's database, and that nothing secret is answered.
import assert from 'node:assert/strict'
import http from 'node:http'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { addApiKey, revokeApiKey } from '../../src/db/authorizations.js'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import { writeHoneypotHeartbeat } from '../../src/db/honeypot-heartbeats.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { describeEachDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import {
  loopbackServerConfig,
  reportingHost,
  startTestServer,
  type TestServer,
  testGeo,
} from '../support/server.js'

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
type Json = any

/** The package version (this file runs as dist/test/integration/…). */
const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version

/** GET over node:http, which (unlike fetch) lets a test choose the Host header. */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
  })
}

const addr = (text: string) => classifyMultiaddr(multiaddr(text))

describeEachDatabase('GET /api/campaign-status through a new campaign', (getDb) => {
  let t: TestServer
  /** A second server on the same database that hands out public relay hops only, as a public server does. */
  let publicServer: PunchrServer
  const keys: string[] = []
  const names = ['alice-the-volunteer', 'carol-revoked']

  before(async () => {
    t = await startTestServer(getDb())
    // …and, on PGlite, uses the default data folder (as `punchr up` in its own folder does).
    publicServer = await createServer(
      loopbackServerConfig({ privateRelayHops: false, dataDir: 'punchr-data' }),
      {
        db: getDb(),
        geo: await testGeo(),
      },
    )
    await publicServer.start()
  })
  after(async () => {
    await publicServer?.destroy()
    await t?.stop()
  })

  async function status(key?: string): Promise<Json> {
    const res = await fetch(`${t.httpUrl}/api/campaign-status`, {
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    })
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    return body
  }

  /** Nothing the server must keep to itself is in an answer. */
  function assertNoSecrets(body: Json): void {
    const text = JSON.stringify(body)
    for (const key of keys) assert.ok(!text.includes(key), 'no API key')
    for (const key of keys) assert.ok(!text.includes(key.slice(0, 9)), 'no key prefix')
    for (const name of names) assert.ok(!text.includes(name), 'no user name')
    assert.doesNotMatch(text, /postgres(ql)?:\/\/[^<]/, 'no database URL')
  }

  it('fresh: nothing done; the commands for this server and its database', async () => {
    const s = await status()
    assert.deepEqual(s.checklist, { keyIssued: false, remotesReady: false, resultsStored: false })
    assert.deepEqual(s.keys, { issued: false, openRegistration: false })
    assert.deepEqual(s.honeypot, { state: 'none', honeypots: [] })
    assert.deepEqual(s.peers, { recorded: 0, capped: false, lastHour: 0, lastRecordedAt: null })
    assert.deepEqual(s.remotes, { ready: 0, windowSeconds: 600 })
    assert.deepEqual(s.results, { stored: false })
    const grpc = `127.0.0.1:${t.server.grpcPort}`
    assert.deepEqual(s.server, {
      version: VERSION,
      grpcAddress: grpc,
      grpcAddressIsLocal: true,
      tls: false,
      database: getDb().kind,
    })
    assert.deepEqual(s.commands.volunteer, [
      `npm install -g punchr-${VERSION}.tgz`,
      'punchr login <key>',
      `punchr client --server ${grpc}`,
    ])
    // The embedded database is one process's: stop the server first. The test server's data
    // folder is not the default one, and its path is not shown.
    assert.deepEqual(
      s.commands.issueKey,
      getDb().kind === 'pglite'
        ? {
            command: "punchr keys add --user <name> --data-dir <the server's --data-dir>",
            whileServerRuns: false,
          }
        : {
            command: "DATABASE_URL=<the server's DATABASE_URL> punchr keys add --user <name>",
            whileServerRuns: true,
          },
    )
    assertNoSecrets(s)
  })

  it('a revoked key is no key; a valid one completes step 1 and is named nowhere', async () => {
    const revoked = (await addApiKey(getDb(), names[1]!)).key
    keys.push(revoked)
    await revokeApiKey(getDb(), revoked)
    assert.equal((await status()).checklist.keyIssued, false)

    const key = (await addApiKey(getDb(), names[0]!)).key
    keys.push(key)
    const s = await status()
    assert.deepEqual(s.checklist, { keyIssued: true, remotesReady: false, resultsStored: false })
    assert.equal(s.keys.issued, true)
    assertNoSecrets(s)
    // The campaign's state is everyone's: a key narrows nothing, a wrong one is refused as everywhere.
    assert.deepEqual({ ...(await status(key)), now: null }, { ...(await status()), now: null })
    const wrong = await fetch(`${t.httpUrl}/api/campaign-status`, {
      headers: { authorization: 'Bearer pk_wrong' },
    })
    assert.equal(wrong.status, 401)
  })

  it('a honeypot that beats is walking; the peers it records make remotes ready', async () => {
    const honeypot = (await newPeer()).id
    const started = new Date(Date.now() - 120_000)
    await writeHoneypotHeartbeat(getDb(), {
      peerId: honeypot,
      startedAt: started,
      walksEnabled: true,
      lastWalk: undefined,
      eventsRecorded: 0,
      stoppedAt: undefined,
    })
    let s = await status()
    assert.equal(s.honeypot.state, 'starting')
    assert.equal(s.checklist.remotesReady, false)

    const walked = new Date()
    await writeHoneypotHeartbeat(getDb(), {
      peerId: honeypot,
      startedAt: started,
      walksEnabled: true,
      lastWalk: { at: walked, result: 'ok' },
      eventsRecorded: 2,
      stoppedAt: undefined,
    })
    // Two remotes: one behind a relay at a public IP, one behind a relay on loopback.
    const relay = (await newPeer()).id
    const [publicHop, loopbackHop] = [await newPeer(), await newPeer()]
    for (const [remote, hop] of [
      [publicHop, '11.0.0.1'],
      [loopbackHop, '127.0.0.1'],
    ] as const) {
      await recordConnectionEvent(
        getDb(),
        {
          remoteId: remote.id,
          agentVersion: 'kubo/0.30.0',
          protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
          listenAddrs: [addr(`/ip4/${hop}/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${remote.id}`)],
          connectionAddr: addr('/ip4/11.0.0.50/tcp/4001'),
          honeypotId: honeypot,
          openedAt: new Date(),
        },
        () => ({ country: null, asn: null }),
      )
    }
    s = await status()
    assert.equal(s.honeypot.state, 'walking')
    assert.deepEqual(s.honeypot.honeypots, [
      {
        peerId: honeypot,
        state: 'walking',
        startedAt: started.toISOString(),
        beatAt: s.honeypot.honeypots[0].beatAt,
        lastWalkAt: walked.toISOString(),
        lastWalkResult: 'ok',
        eventsRecorded: 2,
      },
    ])
    assert.ok(Math.abs(Date.parse(s.honeypot.honeypots[0].beatAt) - Date.now()) < 60_000, 'beat just now')
    assert.deepEqual([s.peers.recorded, s.peers.capped, s.peers.lastHour], [2, false, 2])
    assert.ok(s.peers.lastRecordedAt !== null)
    // The test server hands out loopback hops (--private-relay-hops), a public server does not:
    // the count is GetAddrInfo's condition under each server's own setting.
    assert.deepEqual(s.remotes, { ready: 2, windowSeconds: 600 })
    assert.deepEqual(s.checklist, { keyIssued: true, remotesReady: true, resultsStored: false })
    const onPublic: Json = await (
      await fetch(`http://127.0.0.1:${publicServer.httpPort}/api/campaign-status`)
    ).json()
    assert.deepEqual(onPublic.remotes, { ready: 1, windowSeconds: 600 })
    assert.equal(onPublic.peers.recorded, 2)
    // With the default data folder the key command needs no --data-dir: exactly what works.
    if (getDb().kind === 'pglite')
      assert.deepEqual(onPublic.commands.issueKey, {
        command: 'punchr keys add --user <name>',
        whileServerRuns: false,
      })
  })

  it('a honeypot whose walks fail, one gone silent and one stopped are told apart', async () => {
    const [failing, silent, stopped] = [(await newPeer()).id, (await newPeer()).id, (await newPeer()).id]
    const beat = (peerId: string, rest: object) =>
      writeHoneypotHeartbeat(getDb(), {
        peerId,
        startedAt: new Date(Date.now() - 3_600_000),
        walksEnabled: true,
        lastWalk: { at: new Date(), result: 'failed' },
        eventsRecorded: 0,
        stoppedAt: undefined,
        ...rest,
      })
    await beat(failing, {})
    await beat(silent, {})
    await getDb().query(
      "UPDATE honeypot_heartbeats SET beat_at = now() - interval '4 minutes' WHERE peer_id = $1",
      [silent],
    )
    await beat(stopped, { stoppedAt: new Date() })
    const s = await status()
    const stateOf = (id: string) => s.honeypot.honeypots.find((h: Json) => h.peerId === id)?.state
    assert.deepEqual(
      [stateOf(failing), stateOf(silent), stateOf(stopped)],
      ['walk failing', 'silent', 'stopped'],
    )
    assert.equal(s.honeypot.state, 'walking', 'the best of them: the walking one of the test before')
  })

  it('a stored result completes the checklist', async () => {
    const reporter = await reportingHost(getDb(), t.server.grpcPort, names[0]!)
    keys.push(reporter.key)
    await reporter.client.trackHolePunch(reporter.report)
    const s = await status()
    assert.deepEqual(s.checklist, { keyIssued: true, remotesReady: true, resultsStored: true })
    assert.deepEqual(s.results, { stored: true })
    assertNoSecrets(s)
  })

  describe('the gRPC address comes from the Host the browser used', () => {
    const cases: [string, string | null, boolean][] = [
      ['punchr.example.org:10001', 'punchr.example.org', false],
      ['Punchr.Example.org', 'punchr.example.org', false],
      ['203.0.113.7:8080', '203.0.113.7', false],
      ['[2001:db8::7]:10001', '[2001:db8::7]', false],
      ['localhost:10001', 'localhost', true],
      ['[::1]:10001', '[::1]', true],
      ['evil.example/<script>', null, false],
      ['a b', null, false],
    ]
    for (const [host, expected, local] of cases) {
      it(`Host: ${host}`, async () => {
        const { status, body } = await getWithHost(t.server.httpPort, '/api/campaign-status', host)
        assert.equal(status, 200)
        const port = t.server.grpcPort
        assert.equal(body.server.grpcAddress, expected === null ? null : `${expected}:${port}`)
        assert.equal(body.server.grpcAddressIsLocal, local)
        assert.equal(
          body.commands.volunteer[2],
          `punchr client --server ${expected === null ? '<server>' : expected}:${port}`,
        )
      })
    }
  })
})
