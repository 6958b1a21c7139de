import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { expectedOutcome } from '../../src/lab/nat-profiles.js'
import { type PeerProcess, programPath } from '../../src/lab/peers/launch.js'
import { rustRemoteBinary, startRustRemote } from '../../src/lab/peers/rust-build.js'
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
 * rust-libp2p remotes (test/interop/rust-remote: stock rust-libp2p DCUtR, a reservation on the
 * lab relay, a Kademlia client) behind the lab's Linux NATs: they join the DHT through a
 * bootstrap peer, which brings them to the honeypot (`punchr up` in node server), and our traced
 * probe (src/lab/peers/probe.ts) punches them, one process per round; each outcome is checked
 * against the ground truth.
 *
 *   relay-1, bootstrap-1, server ── internet ── home-a router (cone)      ── a  probe
 *                                             ├ home-b router (cone)      ── b  rust remote
 *                                             ├ home-c router (symmetric) ── c  rust remote
 *                                             ├ home-d router (cone)      ── d  rust remote --advertise-dcutr
 *                                             └ home-e router (cone)      ── e  rust remote --advertise-dcutr, TCP and QUIC
 *
 * b and c are stock. d differs only in listing /libp2p/dcutr in identify on direct connections,
 * which stock rust-libp2p never does for a NATed peer — so the honeypot records d and not b, c
 * (docs/INTEROP.md, rust finding R1). e also speaks QUIC (--relay-quic: a second connection to
 * the relay, over QUIC, tells it its public QUIC address); the probe punches TCP, so e shows
 * that the TCP punch is unchanged by it. QUIC punches against rust remotes are measured by
 * test/e2e/lab-campaign.test.ts (punchr client speaks QUIC).
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('probe')) ? false : 'build first: npx tsc')

const scenario = remoteLabScenario('rust-remote-lab', 'rust', [
  { host: 'b', nat: 'cone', transports: ['tcp'] },
  { host: 'c', nat: 'symmetric', transports: ['tcp'] },
  { host: 'd', nat: 'cone', transports: ['tcp'] },
  { host: 'e', nat: 'cone', transports: ['tcp', 'quic'] },
])
let nextProbePort = FIRST_PROBE_PORT
const ROUNDS = 3
/** The first build compiles ~235 crates: ~3–5 min on a busy 2-core machine, more when it is busier. */
const BUILD_TIMEOUT_MS = 40 * 60_000

interface RustReady {
  ready: true
  peerId: string
  relayAddrs: string[]
  publicAddrs: string[]
  holePunchAddrs: string[]
  quicPort: number | null
  dhtPeers: string[]
  impl: string
  version: string
  agentVersion: string
  advertiseDcutr: boolean
}

describe('DCUtR through the lab’s NATs with rust-libp2p remotes', {
  skip,
  timeout: BUILD_TIMEOUT_MS + 600_000,
}, () => {
  let lab: LabNetwork
  let services: LabServices
  /** Every process's stderr; kept after the run with PUNCHR_KEEP_LAB_LOGS=1 (evidence for docs/INTEROP.md). */
  const logDir = mkdtempSync(join(tmpdir(), 'punchr-rust-remote-lab-logs-'))
  const logFile = (node: string, program: string) => join(logDir, `${node}-${program}.log`)
  const remotes = new Map<string, { process: PeerProcess; ready: RustReady }>()

  const wan = (host: string) => lab.ip4(host, 'publicIp')
  const logOf = (host: string) => `--- ${host}'s log:\n${remotes.get(host)!.process.stderr()}`
  /** A remote's whole log so far (PeerProcess keeps only the tail of stderr). */
  const fullLog = (host: string) => readFileSync(logFile(host, 'rust-remote'), 'utf8')

  const round = (client: string, remote: string): Promise<ProbeResult> => {
    const dialPort = nextProbePort++
    return runProbe(lab, client, {
      relayAddr: services.relayAddr,
      remotePeerId: remotes.get(remote)!.ready.peerId,
      dialPort,
      logFile: logFile(client, `probe-${remote}-${dialPort}`),
    })
  }

  before(
    async () => {
      // Built (or found in the cache) before anything starts in the lab.
      await rustRemoteBinary()
      lab = await upLabNetwork(scenario)
      services = await startLabServices(lab, { name: 'rust-remote-lab', logFile })
      await Promise.all(
        ['b', 'c', 'd', 'e'].map(async (host) => {
          const process = await startRustRemote(
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
              ...(host === 'd' || host === 'e' ? ['--advertise-dcutr'] : []),
              ...(host === 'e'
                ? ['--relay-quic', services.relayQuicAddr, '--quic-port', String(REMOTE_QUIC_PORT)]
                : []),
            ],
            { env: PEER_ENV, logFile: logFile(host, 'rust-remote') },
          )
          remotes.set(host, { process, ready: (await process.next(40_000)) as RustReady })
        }),
      )
    },
    { timeout: BUILD_TIMEOUT_MS + 120_000 },
  )

  after(async () => {
    await lab?.down()
    if (services !== undefined) rmSync(services.dataDir, { recursive: true, force: true })
    if (process.env.PUNCHR_KEEP_LAB_LOGS === '1') process.stderr.write(`rust-remote-lab: logs in ${logDir}\n`)
    else rmSync(logDir, { recursive: true, force: true })
  })

  it('rust remotes hold a reservation, know what the relay observed, joined the DHT', (t) => {
    for (const host of ['b', 'c', 'd', 'e']) {
      const ready = remotes.get(host)!.ready
      assert.equal(ready.ready, true, JSON.stringify(ready))
      assert.equal(ready.impl, 'rust')
      assert.match(ready.version, /^0\.\d+\.\d+$/)
      // Contains "rust-libp2p": the measuring client picks its handshake role from it (roleFor).
      assert.equal(ready.agentVersion, `punchr-lab-rust-remote rust-libp2p/${ready.version}`)
      assert.equal(ready.advertiseDcutr, host === 'd' || host === 'e')
      // The relay client listens on a circuit address through every address the reservation
      // lists, QUIC ones too (a peer may reach the relay over QUIC; the relay reaches us over
      // the reservation's TCP connection).
      assert.deepEqual(
        [...ready.relayAddrs].sort(),
        services.relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`).sort(),
        host,
      )
      // The lookup of its own key reached the DHT servers: the bootstrap peer and the honeypot.
      assert.deepEqual([...ready.dhtPeers].sort(), [services.bootstrapId, services.honeypotId].sort(), host)
      t.diagnostic(
        `${host}: rust-libp2p ${ready.version} (${ready.agentVersion}), relay observed ${ready.publicAddrs}, ` +
          `DCUtR sends ${ready.holePunchAddrs}`,
      )
    }
    for (const host of ['b', 'd']) {
      // Cone: the NAT kept the port rust-libp2p dials from (its listen port: PortUse::Reuse), and
      // that observation is DCUtR's address candidate as it is.
      const { peerId, publicAddrs, holePunchAddrs } = remotes.get(host)!.ready
      assert.deepEqual(publicAddrs, [`/ip4/${wan(host)}/tcp/${REMOTE_LISTEN_PORT}`], host)
      assert.deepEqual(holePunchAddrs, [`/ip4/${wan(host)}/tcp/${REMOTE_LISTEN_PORT}/p2p/${peerId}`], host)
    }
    // Symmetric: the relay saw a random port; identify, seeing that it is no port we listen on,
    // "translates" it to our listen port, and that is what DCUtR sends.
    const c = remotes.get('c')!.ready
    assert.equal(c.publicAddrs.length, 1)
    assert.ok(c.publicAddrs[0]!.startsWith(`/ip4/${wan('c')}/tcp/`), c.publicAddrs[0])
    assert.notEqual(c.publicAddrs[0], `/ip4/${wan('c')}/tcp/${REMOTE_LISTEN_PORT}`)
    assert.deepEqual(c.holePunchAddrs, [`/ip4/${wan('c')}/tcp/${REMOTE_LISTEN_PORT}/p2p/${c.peerId}`])
    assert.equal(c.quicPort, null)
    // e: over its second connection to the relay, QUIC from its listening socket, the relay
    // observed the QUIC listen port (cone), and that is a DCUtR candidate beside the TCP one.
    const e = remotes.get('e')!.ready
    assert.equal(e.quicPort, REMOTE_QUIC_PORT)
    assert.deepEqual(e.publicAddrs, [
      `/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}`,
      `/ip4/${wan('e')}/udp/${REMOTE_QUIC_PORT}/quic-v1`,
    ])
    assert.deepEqual(e.holePunchAddrs, [
      `/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}/p2p/${e.peerId}`,
      `/ip4/${wan('e')}/udp/${REMOTE_QUIC_PORT}/quic-v1/p2p/${e.peerId}`,
    ])
  })

  // rust-libp2p B punches with `override_role()`: it dials as the security/muxer *listener*, as
  // the DCUtR spec says, and the tracer, by the remote's agent (roleFor), initiates.
  it(`cone → cone rust remote: SUCCESS on the first attempt in each of ${ROUNDS} rounds`, async (t) => {
    assert.equal(expectedOutcome(lab.nat('a'), lab.nat('b'), 'tcp'), 'SUCCESS')
    for (let i = 0; i < ROUNDS; i++) {
      const result = await round('a', 'b')
      const why = JSON.stringify(result, null, 1)
      t.diagnostic(`round ${i + 1}: ${describeAttempts(result)}`)
      assert.equal(result.outcome, 'SUCCESS', `${why}\n${logOf('b')}`)
      assert.equal(result.attempts[0]?.outcome, 'SUCCESS', `${why}\n${logOf('b')}`)
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
    // b's side of it: the punch dial ran as listener (role override) and DCUtR reported success.
    const log = fullLog('b')
    assert.match(log, /"role":"listener \(dial with role override\)".*"punched":true/)
    assert.match(log, /hole punch succeeded/)
  })

  it('cone → cone rust remote with --advertise-dcutr: SUCCESS (the punch path is the same)', async (t) => {
    const result = await round('a', 'd')
    t.diagnostic(describeAttempts(result))
    assert.equal(result.outcome, 'SUCCESS', `${JSON.stringify(result, null, 1)}\n${logOf('d')}`)
    assert.equal(result.attempts[0]?.outcome, 'SUCCESS', JSON.stringify(result, null, 1))
  })

  it('cone → cone rust remote with QUIC on: the TCP punch is unchanged; CONNECT carries both', async (t) => {
    const result = await round('a', 'e')
    const why = JSON.stringify(result, null, 1)
    t.diagnostic(describeAttempts(result))
    assert.equal(result.outcome, 'SUCCESS', `${why}\n${logOf('e')}`)
    assert.equal(result.attempts[0]?.outcome, 'SUCCESS', why)
    const { peerId } = remotes.get('e')!.ready
    const connect = result.events.find((ev) => ev.type === 'connect-received')
    assert.deepEqual(
      [...(connect?.addrs ?? [])].sort(),
      [
        `/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}/p2p/${peerId}`,
        `/ip4/${wan('e')}/udp/${REMOTE_QUIC_PORT}/quic-v1/p2p/${peerId}`,
      ],
      why,
    )
    // The probe speaks TCP only: it punched the TCP address.
    assert.deepEqual(result.attempts[0]?.multiAddresses, [
      `/ip4/${wan('e')}/tcp/${REMOTE_LISTEN_PORT}/p2p/${peerId}`,
    ])
  })

  it('cone → symmetric rust remote: FAILED', async (t) => {
    assert.equal(expectedOutcome(lab.nat('a'), lab.nat('c'), 'tcp'), 'FAILED')
    const result = await round('a', 'c')
    const why = JSON.stringify(result, null, 1)
    t.diagnostic(describeAttempts(result))
    assert.equal(result.outcome, 'FAILED', `${why}\n${logOf('c')}`)
    assert.equal(result.attempts.length, 3, why)
    assert.deepEqual(result.directConnections, [], why)
    // CONNECT carried c's WAN address with its *listen* port (identify's translation), not the
    // port its NAT used towards the relay.
    assert.ok(
      result.attempts.every((a) =>
        a.multiAddresses.every((m) => m.startsWith(`/ip4/${wan('c')}/tcp/${REMOTE_LISTEN_PORT}/`)),
      ),
      why,
    )
  })

  it('the honeypot records the rust remotes: the stock ones as punching unannounced (inferred), the one listing /libp2p/dcutr as such', async () => {
    const hosts = ['b', 'c', 'd', 'e']
    const records = await honeypotRecords(
      services,
      hosts.map((h) => remotes.get(h)!.ready.peerId),
    )
    for (const host of hosts) {
      const { peerId, version, relayAddrs } = remotes.get(host)!.ready
      const { events, candidateAddrs } = records.get(peerId)!
      // Stock rust-libp2p (b, c) lists /libp2p/dcutr on no connection the honeypot can see, but
      // it is a relay-only rust-libp2p relay client: recorded as inferred (docs/PROTOCOL.md,
      // "Honeypot"). d and e list it (--advertise-dcutr).
      const stock = host === 'b' || host === 'c'
      assert.ok(events.length > 0, `no connection event of ${host}`)
      assert.deepEqual(events[0], {
        agent_version: `punchr-lab-rust-remote rust-libp2p/${version}`,
        supports_dcutr: !stock,
        dcutr_inferred: stock,
        listens_on_relay: true,
      })
      // Identify advertises the external addresses, and the relay client confirms as external
      // only the circuit address through the relay address it was told to listen on (TCP), not
      // every one it listens on. With QUIC on (e), the remote confirms the QUIC one itself.
      assert.deepEqual(
        [...candidateAddrs].sort(),
        host === 'e' ? [...relayAddrs].sort() : [`${services.relayAddr}/p2p-circuit/p2p/${peerId}`],
        `${host} is a candidate with its relay address(es)`,
      )
    }
    // What each remote listed in identify on its connection to the honeypot, from its own log
    // (rust-libp2p computes the list per connection): no /libp2p/dcutr from b and c, d lists it.
    for (const host of ['b', 'c', 'd', 'e']) {
      const lists = fullLog(host)
        .split('\n')
        .filter((l) => l.includes('"our protocols on this connection') && l.includes(services.honeypotId))
      assert.ok(lists.length > 0, `${host} logged no protocols for its connection to the honeypot`)
      for (const line of lists) {
        assert.match(line, /\/ipfs\/id\/1\.0\.0/, line)
        assert.equal(line.includes('/libp2p/dcutr'), host === 'd' || host === 'e', line)
      }
    }
  })
})
