import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { expectedOutcome } from '../../src/lab/nat-profiles.js'
import { namespaceInode, pidsInNamespaces } from '../../src/lab/netns.js'
import { isAlive } from '../../src/lab/owners.js'
import { type PeerProcess, programPath, startPeer } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { type LabNetwork, upLabNetwork } from '../../src/lab/topology.js'
import { FIRST_PROBE_PORT, PEER_ENV, type ProbeResult, REMOTE_DIAL_PORT } from '../support/interop-lab.js'

/**
 * DCUtR hole punches between real js-libp2p hosts behind the lab's Linux NATs: a circuit relay
 * on the internet, js remotes with stock @libp2p/dcutr and a reservation (src/lab/peers/remote.ts),
 * and a probe with our traced responder (src/lab/peers/probe.ts), one process per round.
 * Each measured outcome is checked against the lab's ground truth (`expectedOutcome`).
 *
 *   relay-1 ── internet ── home-a router (cone)      ── a  probe
 *                        ├ home-b router (cone)      ── b  remote
 *                        ├ home-c router (symmetric) ── c  remote
 *                        └ home-d router (symmetric) ── d  probe
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('probe')) ? false : 'build first: npx tsc')

const scenario = validateScenario(
  {
    name: 'lab-punch-e2e',
    relays: 1,
    server: false,
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client', transports: ['tcp'] }] },
      { name: 'home-b', nat: 'cone', hosts: [{ name: 'b', role: 'remote', transports: ['tcp'] }] },
      { name: 'home-c', nat: 'symmetric', hosts: [{ name: 'c', role: 'remote', transports: ['tcp'] }] },
      { name: 'home-d', nat: 'symmetric', hosts: [{ name: 'd', role: 'client', transports: ['tcp'] }] },
    ],
  },
  'lab-punch-e2e',
)

let nextProbePort = FIRST_PROBE_PORT
const ROUNDS = 5

interface Ready {
  ready: true
  peerId: string
  addrs?: string[]
  relayAddrs?: string[]
  publicAddrs?: string[]
}

describe('DCUtR through the lab’s NATs (js-libp2p remotes, traced probe)', { skip, timeout: 120_000 }, () => {
  let lab: LabNetwork
  let relayAddr: string
  /** The relay's TCP and QUIC addresses: a reservation lists both as circuit addresses. */
  let relayListenAddrs: string[]
  const remotes = new Map<string, { process: PeerProcess; ready: Ready }>()

  const wan = (host: string) => lab.ip4(host, 'publicIp')

  /** One round: a fresh probe in `client` dials `remote` through the relay; its JSON line and wall time. */
  async function round(client: string, remote: string): Promise<{ result: ProbeResult; ms: number }> {
    const port = nextProbePort++
    const started = performance.now()
    const probe = startPeer(
      lab,
      client,
      'probe',
      ['--relay', relayAddr, '--remote', remotes.get(remote)!.ready.peerId, '--dial-port', String(port)],
      { env: PEER_ENV },
    )
    const result = (await probe.next(60_000)) as ProbeResult
    const ms = performance.now() - started
    const exit = await probe.exited
    assert.ok('outcome' in result, `${JSON.stringify(result)}\n${probe.stderr()}`)
    assert.equal(result.relayError, undefined, JSON.stringify(result))
    assert.deepEqual(exit, { code: 0, signal: null })
    assert.equal(result.dialPort, port)
    // The relay saw the probe's fixed port through its NAT: on a cone NAT it is kept.
    const observed = result.observedAddrs[0] ?? ''
    assert.ok(observed.startsWith(`/ip4/${wan(client)}/tcp/`), observed)
    if (lab.nat(client) === 'cone') assert.equal(observed, `/ip4/${wan(client)}/tcp/${port}`)
    return { result, ms }
  }

  before(async () => {
    lab = await upLabNetwork(scenario)
    const relay = startPeer(lab, 'relay-1', 'relay', ['--ip', lab.ip4('relay-1')])
    const relayReady = (await relay.next()) as Ready
    relayAddr = relayReady.addrs![0]!
    relayListenAddrs = relayReady.addrs!
    assert.equal(relayAddr, `/ip4/${lab.ip4('relay-1')}/tcp/4001/p2p/${relayReady.peerId}`)
    await Promise.all(
      ['b', 'c'].map(async (host) => {
        const process = startPeer(
          lab,
          host,
          'remote',
          ['--relay', relayAddr, '--dial-port', String(REMOTE_DIAL_PORT)],
          { env: PEER_ENV },
        )
        remotes.set(host, { process, ready: (await process.next()) as Ready })
      }),
    )
  })

  after(async () => {
    // The last test checks teardown itself; this is for a failure half-way.
    await lab?.down()
  })

  it('remotes hold a reservation and advertise what the relay observed of them', () => {
    const b = remotes.get('b')!.ready
    const c = remotes.get('c')!.ready
    for (const [host, ready] of [
      ['b', b],
      ['c', c],
    ] as const) {
      assert.deepEqual(
        ready.relayAddrs,
        relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`),
        host,
      )
    }
    // Cone: the NAT kept the dial port. Symmetric: a random port, useless to anyone but the relay.
    assert.deepEqual(b.publicAddrs, [`/ip4/${wan('b')}/tcp/${REMOTE_DIAL_PORT}`])
    assert.equal(c.publicAddrs?.length, 1)
    assert.ok(c.publicAddrs![0]!.startsWith(`/ip4/${wan('c')}/tcp/`), c.publicAddrs![0])
  })

  it(`cone ↔ cone: SUCCESS on the first attempt in each of ${ROUNDS} rounds`, async (t) => {
    const expected = expectedOutcome(lab.nat('a'), lab.nat('b'), 'tcp')
    assert.equal(expected, 'SUCCESS')
    for (let i = 0; i < ROUNDS; i++) {
      const { result, ms } = await round('a', 'b')
      const why = JSON.stringify(result, null, 1)
      assert.equal(result.outcome, expected, why)
      assert.equal(result.end, 'direct-connection', why)
      assert.deepEqual(
        result.attempts.map((a) => a.outcome),
        ['SUCCESS'],
        why,
      )
      assert.deepEqual(result.attempts[0]!.multiAddresses, [
        `/ip4/${wan('b')}/tcp/${REMOTE_DIAL_PORT}/p2p/${remotes.get('b')!.ready.peerId}`,
      ])
      // The direct connection goes to b's router, at the port b dials from.
      assert.ok(
        result.directConnections.some((c) =>
          c.remoteAddr.startsWith(`/ip4/${wan('b')}/tcp/${REMOTE_DIAL_PORT}/`),
        ),
        why,
      )
      assert.ok(result.directPing?.rttMs !== undefined, `a ping over the punched connection: ${why}`)
      t.diagnostic(
        `round ${i + 1}: ${result.outcome} in ${ms.toFixed(0)} ms wall (probe ${result.timings.totalMs} ms, ` +
          `punch ${(result.attempts[0]!.elapsedTime * 1000).toFixed(1)} ms after SYNC)`,
      )
    }
    // b saw each round's punch from its side too: a direct connection to every probe.
    const bLog = remotes.get('b')!.process.stderr()
    assert.ok((bLog.match(/"punched":true/g) ?? []).length >= ROUNDS, bLog)
  })

  it('cone ↔ symmetric and symmetric ↔ cone: FAILED after three attempts', async (t) => {
    const pairs = [
      ['a', 'c'],
      ['d', 'b'],
    ] as const
    const results = await Promise.all(pairs.map(([client, remote]) => round(client, remote)))
    for (const [i, { result, ms }] of results.entries()) {
      const [client, remote] = pairs[i]!
      const expected = expectedOutcome(lab.nat(client), lab.nat(remote), 'tcp')
      assert.equal(expected, 'FAILED')
      const why = JSON.stringify(result, null, 1)
      assert.equal(result.outcome, expected, why)
      assert.equal(result.end, 'attempts-exhausted', why)
      assert.equal(result.attempts.length, 3, why)
      for (const attempt of result.attempts) {
        assert.ok(['FAILED', 'TIMEOUT'].includes(attempt.outcome), why)
        assert.equal(attempt.multiAddresses.length, 1, why)
      }
      assert.deepEqual(result.directConnections, [], why)
      t.diagnostic(
        `${lab.nat(client)} ${client} → ${lab.nat(remote)} ${remote}: ${result.outcome} in ${ms.toFixed(0)} ms wall, ` +
          `attempts ${result.attempts.map((a) => `${a.outcome} (${a.error ?? ''})`).join(', ')}`,
      )
    }
  })

  it('down() leaves no namespace and no process', async () => {
    const inodes = new Set(lab.namespaces.map(namespaceInode).filter((i) => i !== undefined))
    const pids = pidsInNamespaces(inodes)
    for (const { process } of remotes.values()) assert.ok(pids.includes(process.child.pid!))
    await lab.down()
    const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    assert.ok(!listed.includes(lab.id), listed)
    assert.deepEqual(pids.filter(isAlive), [], 'every process that ran in the lab has ended')
  })
})
