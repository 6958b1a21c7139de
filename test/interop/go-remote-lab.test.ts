import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { expectedOutcome } from '../../src/lab/nat-profiles.js'
import { startGoRemote } from '../../src/lab/peers/go-build.js'
import { type PeerProcess, programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { type LabNetwork, upLabNetwork } from '../../src/lab/topology.js'
import {
  describeAttempts,
  FIRST_PROBE_PORT,
  honeypotRecords,
  type LabServices,
  PEER_ENV,
  type ProbeResult,
  REMOTE_DIAL_PORT,
  REMOTE_LISTEN_PORT,
  REMOTE_QUIC_PORT,
  remoteLabScenario,
  runProbe,
  startLabServices,
} from '../support/interop-lab.js'

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

const scenario = remoteLabScenario('go-remote-lab', 'go', [
  { host: 'b', nat: 'cone', transports: ['tcp'] },
  { host: 'c', nat: 'symmetric', transports: ['tcp'] },
  { host: 'e', nat: 'cone', transports: ['tcp', 'quic'] },
])
let nextProbePort = FIRST_PROBE_PORT
const ROUNDS = 3

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

describe('DCUtR through the lab’s NATs with go-libp2p remotes', { skip, timeout: 600_000 }, () => {
  let lab: LabNetwork
  let services: LabServices
  const remotes = new Map<string, { process: PeerProcess; ready: GoReady }>()

  const wan = (host: string) => lab.ip4(host, 'publicIp')

  const round = (client: string, remote: string): Promise<ProbeResult> =>
    runProbe(lab, client, {
      relayAddr: services.relayAddr,
      remotePeerId: remotes.get(remote)!.ready.peerId,
      dialPort: nextProbePort++,
    })

  before(async () => {
    lab = await upLabNetwork(scenario)
    services = await startLabServices(lab, { name: 'go-remote-lab' })
    await Promise.all(
      ['b', 'c', 'e'].map(async (host) => {
        const process = await startGoRemote(
          lab,
          host,
          [
            '--relay',
            services.relayAddr,
            '--dial-port',
            String(REMOTE_DIAL_PORT),
            '--listen-port',
            String(REMOTE_LISTEN_PORT),
            '--ready-timeout-ms',
            '30000',
            '--dht-bootstrap',
            services.bootstrapAddr,
            ...(host === 'e'
              ? ['--relay-quic', services.relayQuicAddr, '--quic-port', String(REMOTE_QUIC_PORT)]
              : []),
          ],
          { env: PEER_ENV },
        )
        remotes.set(host, { process, ready: (await process.next(40_000)) as GoReady })
      }),
    )
  })

  after(async () => {
    await lab?.down()
    if (services !== undefined) rmSync(services.dataDir, { recursive: true, force: true })
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
        services.relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`),
        host,
      )
      // The lookup of its own key reached the DHT servers: the bootstrap peer and the honeypot.
      assert.deepEqual([...ready.dhtPeers].sort(), [services.bootstrapId, services.honeypotId].sort(), host)
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
    assert.equal(expectedOutcome(lab.nat('a'), lab.nat('b'), 'tcp'), 'SUCCESS')
    for (let i = 0; i < ROUNDS; i++) {
      const result = await round('a', 'b')
      const why = JSON.stringify(result, null, 1)
      t.diagnostic(`round ${i + 1}: ${describeAttempts(result)}`)
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
    t.diagnostic(describeAttempts(result))
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
    assert.equal(expectedOutcome(lab.nat('a'), lab.nat('c'), 'tcp'), 'FAILED')
    const result = await round('a', 'c')
    const why = JSON.stringify(result, null, 1)
    t.diagnostic(describeAttempts(result))
    assert.equal(result.outcome, 'FAILED', why)
    assert.equal(result.attempts.length, 3, why)
    assert.deepEqual(result.directConnections, [], why)
  })

  it('the honeypot recorded the go remotes as relay-only DCUtR candidates', async () => {
    const hosts = ['b', 'c', 'e']
    const records = await honeypotRecords(
      services,
      hosts.map((h) => remotes.get(h)!.ready.peerId),
    )
    for (const host of hosts) {
      const { peerId, version, relayAddrs } = remotes.get(host)!.ready
      const { events, candidateAddrs } = records.get(peerId)!
      assert.ok(events.length > 0, `no connection event of ${host}`)
      assert.deepEqual(events[0], {
        agent_version: `punchr-lab-go-remote go-libp2p/${version}`,
        supports_dcutr: true,
        dcutr_inferred: false,
        listens_on_relay: true,
      })
      assert.deepEqual(candidateAddrs, relayAddrs, `${host} is a candidate with its relay address`)
    }
  })
})
