import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openDatabase } from '../../src/db/database.js'
import { expectedOutcome, type NatType } from '../../src/lab/nat-profiles.js'
import { startGoRemote } from '../../src/lab/peers/go-build.js'
import { PeerProcess, programPath, startPeer } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { type LabNetwork, upLabNetwork } from '../../src/lab/topology.js'

/**
 * go-libp2p remotes (test/interop/go-remote: stock go-libp2p hole punching, AutoRelay on the lab
 * relay, a Kademlia client) behind the lab's Linux NATs: they join the DHT through a bootstrap
 * peer, which brings them to the honeypot (`punchr up` in node server), and our traced probe
 * (src/lab/peers/probe.ts) punches them, one process per round; each outcome is checked against
 * the ground truth.
 *
 *   relay-1, bootstrap-1, server ── internet ── home-a router (cone)      ── a  probe
 *                                             ├ home-b router (cone)      ── b  go remote
 *                                             ├ home-c router (symmetric) ── c  go remote
 *                                             └ home-e router (cone)      ── e  go remote, TCP and QUIC
 *
 * e also speaks QUIC (--relay-quic): a go-libp2p swarm holds one connection per peer, so e
 * reaches the relay over QUIC only and learns its public TCP address from the DHT peers. The
 * probe punches TCP: e shows that the TCP punch is unchanged by it. QUIC punches against go
 * remotes are measured by test/e2e/lab-campaign.test.ts (punchr client speaks QUIC).
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('probe')) ? false : 'build first: npx tsc')

const scenario = validateScenario(
  {
    name: 'go-remote-lab',
    relays: 1,
    bootstrap: 1,
    server: true,
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client', transports: ['tcp'] }] },
      {
        name: 'home-b',
        nat: 'cone',
        hosts: [{ name: 'b', role: 'remote', impl: 'go', transports: ['tcp'] }],
      },
      {
        name: 'home-c',
        nat: 'symmetric',
        hosts: [{ name: 'c', role: 'remote', impl: 'go', transports: ['tcp'] }],
      },
      {
        name: 'home-e',
        nat: 'cone',
        hosts: [{ name: 'e', role: 'remote', impl: 'go', transports: ['tcp', 'quic'] }],
      },
    ],
  },
  'go-remote-lab',
)

/** As the campaign runner starts remotes (the go remote dials from its listen port). */
const REMOTE_DIAL_PORT = 4100
const REMOTE_LISTEN_PORT = 4101
/** The UDP port of e's QUIC listener (the campaign runner's PORTS.remoteQuic). */
const REMOTE_QUIC_PORT = 4102
let nextProbePort = 4200
const ROUNDS = 3
const ENV = { PUNCHR_LOG_LEVEL: 'info' }
/** The punchr CLI, compiled (this file is dist/test/interop/). */
const PUNCHR_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

interface GoReady {
  ready: true
  peerId: string
  relayAddrs: string[]
  publicAddrs: string[]
  /** How it reaches its relay: 'quic' with --relay-quic, else 'tcp'. */
  relayVia: string
  quicPort?: number
  dhtPeers: string[]
  impl: string
  version: string
  agentVersion: string
}

interface ProbeResult {
  outcome: string
  end?: string
  relayError?: string
  observedAddrs: string[]
  attempts: {
    attempt: number
    outcome: string
    error?: string
    elapsedTime: number
    multiAddresses: string[]
  }[]
  directConnections: { remoteAddr: string; direction: string }[]
  directPing?: { rttMs?: number; error?: string }
  timings: { totalMs: number }
  events: { type: string; addrs?: string[] }[]
}

describe('DCUtR through the lab’s NATs with go-libp2p remotes', { skip, timeout: 600_000 }, () => {
  let lab: LabNetwork
  let relayAddr: string
  /** The relay's TCP and QUIC addresses: a reservation lists both as circuit addresses. */
  let relayListenAddrs: string[]
  let bootstrapId: string
  let honeypotId: string
  let server: PeerProcess
  let dataDir: string
  const remotes = new Map<string, { process: PeerProcess; ready: GoReady }>()

  const nat = (host: string): NatType => {
    const node = lab.node(host)
    assert.ok(node.kind === 'host')
    return node.nat
  }
  const wan = (host: string) => lab.node(host).publicIp

  async function round(client: string, remote: string): Promise<ProbeResult> {
    const probe = startPeer(
      lab,
      client,
      'probe',
      [
        '--relay',
        relayAddr,
        '--remote',
        remotes.get(remote)!.ready.peerId,
        '--dial-port',
        String(nextProbePort++),
      ],
      { env: ENV },
    )
    const result = (await probe.next(90_000)) as ProbeResult
    assert.ok('outcome' in result, `${JSON.stringify(result)}\n${probe.stderr()}`)
    assert.equal(result.relayError, undefined, JSON.stringify(result))
    return result
  }

  before(async () => {
    lab = await upLabNetwork(scenario)
    const relay = startPeer(lab, 'relay-1', 'relay', ['--ip', lab.node('relay-1').ip])
    const bootstrap = startPeer(lab, 'bootstrap-1', 'bootstrap', ['--ip', lab.node('bootstrap-1').ip])
    const [relayReady, bootstrapReady] = (await Promise.all([relay.next(), bootstrap.next()])) as {
      peerId: string
      addrs: string[]
    }[]
    relayAddr = relayReady!.addrs[0]!
    const relayQuicAddr = relayReady!.addrs.find((a) => a.includes('/quic-v1/'))!
    relayListenAddrs = relayReady!.addrs
    bootstrapId = bootstrapReady!.peerId
    // The honeypot (with the server: PGlite is one process's database), as the campaign runs it.
    dataDir = mkdtempSync(join(tmpdir(), 'punchr-go-remote-lab-'))
    const ip = lab.node('server').ip
    server = new PeerProcess(lab, 'server', 'up', PUNCHR_CLI, [
      'up',
      '--host',
      ip,
      '--honeypot-port',
      '11000',
      '--announce',
      `/ip4/${ip}/tcp/11000`,
      '--bootstrap-peers',
      bootstrapReady!.addrs[0]!,
      '--data-dir',
      dataDir,
    ])
    const honeypotAddr = await server.waitFor(
      'honeypot address',
      (line) => /honeypot listening on (\S+\/p2p\/\S+)/.exec((line as { raw?: string }).raw ?? '')?.[1],
      // A fresh PGlite database (initdb in WASM) plus migrations: seconds alone, far more on a
      // machine busy with other builds (seen: > 30 s at load 12 on 2 cores).
      90_000,
    )
    honeypotId = honeypotAddr.split('/p2p/')[1]!
    await Promise.all(
      ['b', 'c', 'e'].map(async (host) => {
        const process = await startGoRemote(
          lab,
          host,
          [
            '--relay',
            relayAddr,
            '--dial-port',
            String(REMOTE_DIAL_PORT),
            '--listen-port',
            String(REMOTE_LISTEN_PORT),
            '--ready-timeout-ms',
            '30000',
            '--dht-bootstrap',
            bootstrapReady!.addrs[0]!,
            ...(host === 'e' ? ['--relay-quic', relayQuicAddr, '--quic-port', String(REMOTE_QUIC_PORT)] : []),
          ],
          { env: ENV },
        )
        remotes.set(host, { process, ready: (await process.next(40_000)) as GoReady })
      }),
    )
  })

  after(async () => {
    await lab?.down()
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  })

  it('go remotes hold a reservation, know what the relay observed, joined the DHT', (t) => {
    for (const host of ['b', 'c', 'e']) {
      const ready = remotes.get(host)!.ready
      assert.equal(ready.ready, true, JSON.stringify(ready))
      assert.equal(ready.impl, 'go')
      assert.match(ready.version, /^v0\.\d+\.\d+/)
      assert.equal(ready.agentVersion, `punchr-lab-go-remote go-libp2p/${ready.version}`)
      assert.deepEqual(
        ready.relayAddrs,
        relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`),
        host,
      )
      // The lookup of its own key reached the DHT servers: the bootstrap peer and the honeypot.
      assert.deepEqual([...ready.dhtPeers].sort(), [bootstrapId, honeypotId].sort(), host)
      t.diagnostic(`${host}: go-libp2p ${ready.version} (${ready.agentVersion}), public ${ready.publicAddrs}`)
    }
    // Cone: the NAT kept the port go-libp2p dials from (its listen port, SO_REUSEPORT).
    assert.deepEqual(remotes.get('b')!.ready.publicAddrs, [`/ip4/${wan('b')}/tcp/${REMOTE_LISTEN_PORT}`])
    const c = remotes.get('c')!.ready.publicAddrs
    assert.equal(c.length, 1)
    assert.ok(c[0]!.startsWith(`/ip4/${wan('c')}/tcp/`), c[0])
    assert.equal(remotes.get('b')!.ready.relayVia, 'tcp')
    // e: the relay (over QUIC) observed its QUIC listen port, the bootstrap peer its TCP one;
    // both NAT mappings keep the port (cone), and the QUIC socket is the one it listens on.
    const e = remotes.get('e')!.ready
    assert.equal(e.relayVia, 'quic')
    assert.equal(e.quicPort, REMOTE_QUIC_PORT)
    assert.deepEqual(e.publicAddrs, [
      `/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}`,
      `/ip4/${wan('e')}/udp/${REMOTE_QUIC_PORT}/quic-v1`,
    ])
  })

  // On the first attempt: go-libp2p (v0.48+) is the security *server* on attempts 1–2, and the
  // tracer, by the remote's agent (roleFor), initiates. As responder it got SUCCESS only on the
  // third attempt, when go switches roles (docs/INTEROP.md, finding 1).
  it(`cone → cone go remote: SUCCESS on the first attempt in each of ${ROUNDS} rounds`, async (t) => {
    assert.equal(expectedOutcome(nat('a'), nat('b'), 'tcp'), 'SUCCESS')
    for (let i = 0; i < ROUNDS; i++) {
      const result = await round('a', 'b')
      const why = JSON.stringify(result, null, 1)
      t.diagnostic(
        `round ${i + 1}: ${result.outcome} in ${result.timings.totalMs} ms, attempts ` +
          result.attempts.map((a) => `${a.outcome}${a.error ? ` (${a.error})` : ''}`).join(', '),
      )
      assert.equal(result.outcome, 'SUCCESS', `${why}\n--- b's log:\n${remotes.get('b')!.process.stderr()}`)
      assert.equal(result.attempts[0]?.outcome, 'SUCCESS', why)
      // CONNECT carried the relay-observed address: the NAT mapping of b's listen port.
      assert.ok(
        result.attempts.every((a) =>
          a.multiAddresses.every((m) => m.startsWith(`/ip4/${wan('b')}/tcp/${REMOTE_LISTEN_PORT}`)),
        ),
        why,
      )
      assert.ok(
        result.directConnections.some((c) =>
          c.remoteAddr.startsWith(`/ip4/${wan('b')}/tcp/${REMOTE_LISTEN_PORT}/`),
        ),
        why,
      )
      assert.ok(result.directPing?.rttMs !== undefined, `a ping over the punched connection: ${why}`)
    }
  })

  it('cone → cone go remote with QUIC on (relay over QUIC): the TCP punch is unchanged', async (t) => {
    const result = await round('a', 'e')
    const why = JSON.stringify(result, null, 1)
    t.diagnostic(
      `${result.outcome} in ${result.timings.totalMs} ms, attempts ` +
        result.attempts.map((a) => `${a.outcome}${a.error ? ` (${a.error})` : ''}`).join(', '),
    )
    assert.equal(result.outcome, 'SUCCESS', `${why}\n--- e's log:\n${remotes.get('e')!.process.stderr()}`)
    assert.equal(result.attempts[0]?.outcome, 'SUCCESS', why)
    // CONNECT carried both public addresses (HolePunchAddrs: one observer each suffices); the
    // probe, TCP only, punched the TCP one.
    const connect = result.events.find((e) => e.type === 'connect-received')
    assert.deepEqual(
      [...(connect?.addrs ?? [])].map((a) => a.replace(/\/p2p\/.*$/, '')).sort(),
      [`/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}`, `/ip4/${wan('e')}/udp/${REMOTE_QUIC_PORT}/quic-v1`],
      why,
    )
    assert.deepEqual(
      result.attempts[0]?.multiAddresses.map((a) => a.replace(/\/p2p\/.*$/, '')),
      [`/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}`],
      why,
    )
    assert.ok(result.directPing?.rttMs !== undefined, `a ping over the punched connection: ${why}`)
  })

  it('cone → symmetric go remote: FAILED', async (t) => {
    assert.equal(expectedOutcome(nat('a'), nat('c'), 'tcp'), 'FAILED')
    const result = await round('a', 'c')
    const why = JSON.stringify(result, null, 1)
    t.diagnostic(
      `${result.outcome} in ${result.timings.totalMs} ms, attempts ` +
        result.attempts.map((a) => `${a.outcome}${a.error ? ` (${a.error})` : ''}`).join(', '),
    )
    assert.equal(result.outcome, 'FAILED', why)
    assert.equal(result.attempts.length, 3, why)
    assert.deepEqual(result.directConnections, [], why)
  })

  it('the honeypot recorded the go remotes as relay-only DCUtR candidates', async () => {
    // PGlite is one process's database: stop punchr up, then read what it stored.
    await server.stop()
    const db = await openDatabase({ dataDir })
    try {
      for (const host of ['b', 'c', 'e']) {
        const { peerId, version, relayAddrs } = remotes.get(host)!.ready
        const events = await db.query<{
          agent_version: string
          supports_dcutr: boolean
          listens_on_relay: boolean
        }>(
          `SELECT e.agent_version, e.supports_dcutr, e.listens_on_relay FROM connection_events e
             JOIN peers p ON p.id = e.remote_id WHERE p.multi_hash = $1`,
          [peerId],
        )
        assert.ok(events.length > 0, `no connection event of ${host}`)
        assert.deepEqual(events[0], {
          agent_version: `punchr-lab-go-remote go-libp2p/${version}`,
          supports_dcutr: true,
          listens_on_relay: true,
        })
        const candidates = await db.query<{ maddr: string }>(
          `SELECT m.maddr FROM remote_candidates c JOIN peers p ON p.id = c.peer_id
             JOIN multi_addresses m ON m.id = ANY (c.relay_multi_address_ids) WHERE p.multi_hash = $1`,
          [peerId],
        )
        assert.deepEqual(
          candidates.map((c) => c.maddr),
          relayAddrs,
          `${host} is a candidate with its relay address`,
        )
      }
    } finally {
      await db.close()
    }
  })
})
