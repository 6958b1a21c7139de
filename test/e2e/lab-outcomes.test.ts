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

/**
 * The two outcomes of a round that no NAT decides: the remote that never opens /libp2p/dcutr
 * (NO_STREAM) and the remote that is gone before the dial (NO_CONNECTION). Both homes are cone,
 * so the lab's ground truth for the NATs alone is SUCCESS: whatever else the probe measures is
 * the remote's doing, and the test knows what it did to the remote.
 *
 *   relay-1 ── internet ── home-a router (cone) ── a  probe
 *                        └ home-b router (cone) ── b  remotes: one with --no-dcutr, one stopped
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('probe')) ? false : 'build first: npx tsc')

const scenario = validateScenario(
  {
    name: 'lab-outcomes-e2e',
    relays: 1,
    server: false,
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client', transports: ['tcp'] }] },
      { name: 'home-b', nat: 'cone', hosts: [{ name: 'b', role: 'remote', transports: ['tcp'] }] },
    ],
  },
  'lab-outcomes-e2e',
)

/** The remotes' dial ports (P_B), one each: both run in b. */
const SILENT_DIAL_PORT = 4100
const GONE_DIAL_PORT = 4101
/** The probes' dial ports (P_A), one per round. */
let nextProbePort = 4200
/** How long the probe waits for a dcutr stream: short, the remote will never open one. */
const STREAM_OPEN_TIMEOUT_MS = 3_000
const ENV = { PUNCHR_LOG_LEVEL: 'info' }

/** What probe.js prints (the fields these tests read). */
interface ProbeResult {
  outcome: string
  end?: string
  relayError?: string
  attempts: { outcome: string }[]
  directConnections: { remoteAddr: string }[]
  timings: { relayedConnectedMs?: number; endMs?: number; totalMs: number }
  events: { type: string }[]
}

interface Ready {
  ready: true
  peerId: string
  addrs?: string[]
  relayAddrs?: string[]
  dcutr?: boolean
}

describe('outcomes the remote decides (js-libp2p remotes, traced probe)', { skip, timeout: 60_000 }, () => {
  let lab: LabNetwork
  let relayAddr: string
  /** The relay's TCP and QUIC addresses: a reservation lists both as circuit addresses. */
  let relayListenAddrs: string[]
  const peers: PeerProcess[] = []

  function startRemote(dialPort: number, extra: string[] = []): PeerProcess {
    const process = startPeer(
      lab,
      'b',
      'remote',
      ['--relay', relayAddr, '--dial-port', String(dialPort), ...extra],
      { env: ENV },
    )
    peers.push(process)
    return process
  }

  /** One round from a to `remote`; its JSON line, exit and wall time. */
  async function round(remote: string): Promise<{ result: ProbeResult; probe: PeerProcess; ms: number }> {
    const started = performance.now()
    const probe = startPeer(
      lab,
      'a',
      'probe',
      [
        '--relay',
        relayAddr,
        '--remote',
        remote,
        '--dial-port',
        String(nextProbePort++),
        '--stream-open-timeout-ms',
        String(STREAM_OPEN_TIMEOUT_MS),
      ],
      { env: ENV },
    )
    peers.push(probe)
    const result = (await probe.next(30_000)) as ProbeResult
    const ms = performance.now() - started
    assert.ok('outcome' in result, `${JSON.stringify(result)}\n${probe.stderr()}`)
    assert.deepEqual(await probe.exited, { code: 0, signal: null })
    return { result, probe, ms }
  }

  before(async () => {
    lab = await upLabNetwork(scenario)
    const relay = startPeer(lab, 'relay-1', 'relay', ['--ip', lab.ip4('relay-1')])
    peers.push(relay)
    const relayReady = (await relay.next()) as Ready
    relayAddr = relayReady.addrs![0]!
    relayListenAddrs = relayReady.addrs!
  })

  after(async () => {
    // The last test checks teardown itself; this is for a failure half-way.
    await lab?.down()
  })

  it('ground truth: the NATs alone would let the punch through', () => {
    assert.equal(expectedOutcome(lab.nat('a'), lab.nat('b'), 'tcp'), 'SUCCESS')
  })

  it('a remote without /libp2p/dcutr: NO_STREAM after the stream-open timeout', async (t) => {
    const remote = startRemote(SILENT_DIAL_PORT, ['--no-dcutr'])
    const ready = (await remote.next()) as Ready
    // Ground truth for this case: the remote runs no dcutr, yet is reachable through the relay.
    assert.equal(ready.dcutr, false)
    assert.deepEqual(
      ready.relayAddrs,
      relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`),
    )

    const { result, ms } = await round(ready.peerId)
    const why = JSON.stringify(result, null, 1)
    assert.equal(result.outcome, 'NO_STREAM', why)
    // The relayed connection was made: this is not NO_CONNECTION.
    assert.equal(result.relayError, undefined, why)
    assert.ok(result.timings.relayedConnectedMs !== undefined, why)
    assert.equal(result.end, 'silence', why)
    assert.deepEqual(result.attempts, [], why)
    assert.ok(!result.events.some((e) => e.type === 'stream-opened'), why)
    assert.deepEqual(result.directConnections, [], why)
    // It waited the stream-open timeout, and not much more.
    const waited = result.timings.endMs! - result.timings.relayedConnectedMs!
    assert.ok(waited >= STREAM_OPEN_TIMEOUT_MS - 100 && waited < STREAM_OPEN_TIMEOUT_MS + 2_000, why)
    // b's side: the probe reached it over the relay and nothing went direct.
    assert.ok(!/"punched":true/.test(remote.stderr()), remote.stderr())
    t.diagnostic(
      `${result.outcome} (${result.end}) in ${ms.toFixed(0)} ms wall, probe ${result.timings.totalMs} ms`,
    )
  })

  it('a remote gone before the dial: NO_CONNECTION', async (t) => {
    const remote = startRemote(GONE_DIAL_PORT)
    const ready = (await remote.next()) as Ready
    assert.equal(ready.dcutr, true)
    assert.deepEqual(
      ready.relayAddrs,
      relayListenAddrs.map((a) => `${a}/p2p-circuit/p2p/${ready.peerId}`),
    )
    await remote.stop()
    // Ground truth for this case: the remote's process has ended.
    assert.ok(!isAlive(remote.child.pid!))

    const { result, ms } = await round(ready.peerId)
    const why = JSON.stringify(result, null, 1)
    assert.equal(result.outcome, 'NO_CONNECTION', why)
    assert.ok(result.relayError !== undefined && result.relayError.length > 0, why)
    assert.equal(result.timings.relayedConnectedMs, undefined, why)
    assert.equal(result.end, undefined, why)
    assert.deepEqual(result.attempts, [], why)
    assert.deepEqual(result.directConnections, [], why)
    t.diagnostic(`${result.outcome} in ${ms.toFixed(0)} ms wall: ${result.relayError}`)
  })

  it('down() leaves no namespace and no process', async () => {
    const inodes = new Set(lab.namespaces.map(namespaceInode).filter((i) => i !== undefined))
    const pids = [...pidsInNamespaces(inodes), ...peers.map((p) => p.child.pid!)]
    await lab.down()
    const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    assert.ok(!listed.includes(lab.id), listed)
    assert.deepEqual(pids.filter(isAlive), [], 'every process that ran in the lab has ended')
  })
})
