import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDatabase } from '../../src/db/database.js'
import { PeerProcess, startPeer } from '../../src/lab/peers/launch.js'
import { type Scenario, validateScenario } from '../../src/lab/scenario.js'
import type { LabNetwork } from '../../src/lab/topology.js'

// What the lab tests that punch other implementations' remotes (test/interop/*-remote-lab) and
// js remotes (test/e2e/lab-punch) share: the ports the campaign runner uses, the probe's result,
// the relay + bootstrap + honeypot every such lab starts, and what the honeypot stored.

/** As the campaign runner starts remotes (go and rust remotes dial from their listen port). */
export const REMOTE_DIAL_PORT = 4100
export const REMOTE_LISTEN_PORT = 4101
/** The UDP port of a remote's QUIC listener (the campaign runner's PORTS.remoteQuic). */
export const REMOTE_QUIC_PORT = 4102
/** The probes' dial ports (P_A) start here: a new one per round, see src/lab/peers/probe.ts. */
export const FIRST_PROBE_PORT = 4200
/** `npm test` sets warn; the peers' info lines (their side of each punch) are evidence here. */
export const PEER_ENV = { PUNCHR_LOG_LEVEL: 'info' }
/** The punchr CLI, compiled (this file is dist/test/support/). */
const PUNCHR_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

/** What probe.js prints (the fields the lab tests read). */
export interface ProbeResult {
  outcome: string
  end?: string
  relayError?: string
  peerId: string
  dialPort: number
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
  timings: { totalMs: number; endMs?: number }
  events: { type: string; attempt?: number; atMs: number; addrs?: string[] }[]
}

/** "SUCCESS in 812 ms, attempts SUCCESS" — one line per round for the test's diagnostics. */
export function describeAttempts(result: ProbeResult): string {
  return (
    `${result.outcome} in ${result.timings.totalMs} ms, attempts ` +
    result.attempts.map((a) => `${a.outcome}${a.error ? ` (${a.error})` : ''}`).join(', ')
  )
}

export interface RemoteHome {
  /** The host's name; its home is `home-<host>`. */
  host: string
  nat: 'cone' | 'symmetric'
  transports: ('tcp' | 'quic')[]
}

/**
 * One relay, one bootstrap peer, the server node, a probe `a` behind a cone NAT (TCP) and one
 * home per remote of implementation `impl`.
 */
export function remoteLabScenario(name: string, impl: 'go' | 'rust', remotes: RemoteHome[]): Scenario {
  return validateScenario(
    {
      name,
      relays: 1,
      bootstrap: 1,
      server: true,
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client', transports: ['tcp'] }] },
        ...remotes.map((r) => ({
          name: `home-${r.host}`,
          nat: r.nat,
          hosts: [{ name: r.host, role: 'remote' as const, impl, transports: r.transports }],
        })),
      ],
    },
    name,
  )
}

export interface LabServices {
  /** Every address the relay listens on (TCP first, then QUIC): its reservations list them all. */
  relayListenAddrs: string[]
  /** The relay's TCP address, which the remotes and the probe dial. */
  relayAddr: string
  relayQuicAddr: string
  bootstrapId: string
  bootstrapAddr: string
  honeypotId: string
  /** `punchr up` (server and honeypot) in the server node, on PGlite in `dataDir`. */
  server: PeerProcess
  dataDir: string
}

/**
 * Starts the relay and the bootstrap peer, then `punchr up` in the server node with its
 * honeypot bootstrapping from that peer, as the campaign runner does.
 */
export async function startLabServices(
  lab: LabNetwork,
  options: { name: string; logFile?: (node: string, program: string) => string },
): Promise<LabServices> {
  const logFile = options.logFile ?? (() => undefined)
  const relay = startPeer(lab, 'relay-1', 'relay', ['--ip', lab.ip4('relay-1')], {
    logFile: logFile('relay-1', 'relay'),
  })
  const bootstrap = startPeer(lab, 'bootstrap-1', 'bootstrap', ['--ip', lab.ip4('bootstrap-1')], {
    logFile: logFile('bootstrap-1', 'bootstrap'),
  })
  const [relayReady, bootstrapReady] = (await Promise.all([relay.next(), bootstrap.next()])) as {
    peerId: string
    addrs: string[]
  }[]
  const relayListenAddrs = relayReady!.addrs
  // The honeypot (with the server: PGlite is one process's database).
  const dataDir = mkdtempSync(join(tmpdir(), `punchr-${options.name}-`))
  const ip = lab.ip4('server')
  const bootstrapAddr = bootstrapReady!.addrs[0]!
  const server = new PeerProcess(
    lab,
    'server',
    'up',
    PUNCHR_CLI,
    [
      'up',
      '--host',
      ip,
      '--honeypot-port',
      '11000',
      '--announce',
      `/ip4/${ip}/tcp/11000`,
      '--bootstrap-peers',
      bootstrapAddr,
      '--data-dir',
      dataDir,
    ],
    { logFile: logFile('server', 'up') },
  )
  const honeypotAddr = await server.waitFor(
    'honeypot address',
    (line) => /honeypot listening on (\S+\/p2p\/\S+)/.exec((line as { raw?: string }).raw ?? '')?.[1],
    // A fresh PGlite database (initdb in WASM) plus migrations: seconds alone, far more on a
    // machine busy with other builds (seen: > 30 s at load 12 on 2 cores).
    90_000,
  )
  return {
    relayListenAddrs,
    relayAddr: relayListenAddrs[0]!,
    relayQuicAddr: relayListenAddrs.find((a) => a.includes('/quic-v1/'))!,
    bootstrapId: bootstrapReady!.peerId,
    bootstrapAddr,
    honeypotId: honeypotAddr.split('/p2p/')[1]!,
    server,
    dataDir,
  }
}

/** One traced punch: a probe process in `client` dials `remotePeerId` through the relay. */
export async function runProbe(
  lab: LabNetwork,
  client: string,
  options: { relayAddr: string; remotePeerId: string; dialPort: number; logFile?: string },
): Promise<ProbeResult> {
  const probe = startPeer(
    lab,
    client,
    'probe',
    ['--relay', options.relayAddr, '--remote', options.remotePeerId, '--dial-port', String(options.dialPort)],
    { env: PEER_ENV, logFile: options.logFile },
  )
  const result = (await probe.next(90_000)) as ProbeResult
  assert.ok('outcome' in result, `${JSON.stringify(result)}\n${probe.stderr()}`)
  assert.equal(result.relayError, undefined, JSON.stringify(result))
  return result
}

export interface HoneypotRecord {
  /** The peer's connection events (agent version, DCUtR listed or inferred, relay-only), oldest first. */
  events: {
    agent_version: string
    supports_dcutr: boolean
    dcutr_inferred: boolean
    listens_on_relay: boolean
  }[]
  /** The relay addresses it is an allocation candidate with (none: not a candidate). */
  candidateAddrs: string[]
}

/**
 * What the honeypot stored about each peer: stops `punchr up` first (PGlite is one process's
 * database), then reads its data folder.
 */
export async function honeypotRecords(
  services: LabServices,
  peerIds: string[],
): Promise<Map<string, HoneypotRecord>> {
  await services.server.stop()
  const db = await openDatabase({ dataDir: services.dataDir })
  try {
    const records = new Map<string, HoneypotRecord>()
    for (const peerId of peerIds) {
      const events = await db.query<HoneypotRecord['events'][number]>(
        `SELECT e.agent_version, e.supports_dcutr, e.dcutr_inferred, e.listens_on_relay FROM connection_events e
           JOIN peers p ON p.id = e.remote_id WHERE p.multi_hash = $1 ORDER BY e.id`,
        [peerId],
      )
      const candidates = await db.query<{ maddr: string }>(
        `SELECT m.maddr FROM remote_candidates c JOIN peers p ON p.id = c.peer_id
           JOIN multi_addresses m ON m.id = ANY (c.relay_multi_address_ids) WHERE p.multi_hash = $1`,
        [peerId],
      )
      records.set(peerId, { events, candidateAddrs: candidates.map((c) => c.maddr) })
    }
    return records
  } finally {
    await db.close()
  }
}
