// A small data set with known numbers for the dashboard, report and export tests, stored
// through the real db layer (insertHolePunchReport, recordConnectionEvent, registerClient),
// each result dated by insertHolePunchReport's `createdAt` relative to the seeding time (so
// that its hourly counts and histogram bins are those of that time).
//
// Keys: alice (hosts A1, A2), bob (host B1). The hosts run this project's client (A1,
// punchr-ts), the original Go client (A2, punchr-go) and the original Rust client (B1,
// punchr-rust), as their agent versions say; the quirks column below lists the known quirks
// of that client the server normalised in a result (none: stored as sent).
// Remotes and their agents (from honeypot events):
// R1 kubo/0.25.0, R2 kubo/0.24.0, R3 go-libp2p/0.33.0, R4 never seen by a honeypot (unknown).
// Geo (fake resolver): client A1 listens on 11.1.0.1 (DE, AS3320), A2 on 11.2.0.1 (US,
// AS7922), B1 only on a private address (unknown). Remotes punch from R1 11.10.0.1 (FR,
// AS12322), R2 11.20.0.1 (DE, AS3320; it also offers a private address first), R3 11.30.0.1
// (US, AS7922). The relay sits at 11.99.0.1 (NL, AS1136): a query that took geo from the
// INITIAL (relay) addresses would find NL.
//
//  #  host remote  min ago  outcome        attempts (outcome start_rtt)          filter      final      quirks
//  1  A1   R1      2        SUCCESS        SUCCESS .050                          ip4 tcp     tcp/4
//  2  A1   R2      3        SUCCESS        FAILED .080, SUCCESS .060             ip4 quic    quic-v1/4
//  3  A1   R3      5        FAILED         FAILED .100, FAILED .120, FAILED .110 ip4 tcp     –
//  4  A2   R1      8        SUCCESS        SUCCESS .040                          none        tcp/4      go-attempt-opened-late
//  5  A2   R2      12       FAILED         TIMEOUT –                             ip6 tcp     –
//  6  A2   R4      15       NO_STREAM      –                                     none        –
//  7  B1   R1      20       SUCCESS        DIRECT_DIAL –                         ip6 quic    quic-v1/6  rust-elapsed-microseconds
//  8  B1   R3      25       NO_CONNECTION  –                                     none        –
//  9  B1   R2      40       FAILED         FAILED .200                           ip4 tcp     –          rust-elapsed-microseconds
// 10  A1   R1      50       SUCCESS        FAILED .070, FAILED .090, SUCCESS .030 none       tcp/4
// 11  A1   R1      14400    SUCCESS        SUCCESS .050                          ip4 tcp     tcp/4      (10 days ago)
// 12  B1   R2      14410    FAILED         FAILED .150                           ip4 tcp     –          (10 days ago)
//
// Latency (seconds; '!' = failed ping): #1 TO_RELAY .020 .030, THROUGH_RELAY .100 .120,
// AFTER_HOLE_PUNCH .040; #2 TO_RELAY .010, THROUGH_RELAY .150 .5!, AFTER_HOLE_PUNCH .060 .070;
// #3 TO_RELAY .5! (no successful ping), THROUGH_RELAY .090.
// Honeypot events: R1 and R2 2 minutes ago (candidates), R3 30 minutes ago.
import { createHash } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { addApiKey } from '../../src/db/authorizations.js'
import { registerClient } from '../../src/db/clients.js'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import type { Database } from '../../src/db/database.js'
import type {
  AttemptOutcomeName,
  HolePunchOutcomeName,
  HolePunchReport,
  LatencyRecord,
} from '../../src/db/hole-punches.js'
import type { GeoResolver } from '../../src/db/multi-addresses.js'
import { upsertPeer } from '../../src/db/peers.js'
import { insertHolePunchReport } from '../../src/db/report-batch.js'
import { type ClassifiedMultiaddr, classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { newPeer, type TestPeer } from './fixtures.js'

type Host = 'A1' | 'A2' | 'B1'
type Remote = 'R1' | 'R2' | 'R3' | 'R4'
type Final = 'tcp/4' | 'quic-v1/4' | 'quic-v1/6'

interface Row {
  host: Host
  remote: Remote
  minutesAgo: number
  outcome: HolePunchOutcomeName
  attempts: [AttemptOutcomeName, number | null][]
  filter: number[]
  final?: Final
  /** Quirks of the host's client normalised in this result (none: stored as sent). */
  quirks?: string[]
  latency?: { mtype: LatencyRecord['mtype']; rtts: number[]; errs: string[] }[]
}

const TCP4 = [4, 6]
const QUIC4 = [4, 461]
const TCP6 = [41, 6]
const QUIC6 = [41, 461]

/** The table above, in order (result #n is ROWS[n-1]). */
export const ROWS: readonly Row[] = [
  {
    host: 'A1',
    remote: 'R1',
    minutesAgo: 2,
    outcome: 'SUCCESS',
    attempts: [['SUCCESS', 0.05]],
    filter: TCP4,
    final: 'tcp/4',
    latency: [
      { mtype: 'TO_RELAY', rtts: [0.02, 0.03], errs: ['', ''] },
      { mtype: 'TO_REMOTE_THROUGH_RELAY', rtts: [0.1, 0.12], errs: ['', ''] },
      { mtype: 'TO_REMOTE_AFTER_HOLE_PUNCH', rtts: [0.04], errs: [''] },
    ],
  },
  {
    host: 'A1',
    remote: 'R2',
    minutesAgo: 3,
    outcome: 'SUCCESS',
    attempts: [
      ['FAILED', 0.08],
      ['SUCCESS', 0.06],
    ],
    filter: QUIC4,
    final: 'quic-v1/4',
    latency: [
      { mtype: 'TO_RELAY', rtts: [0.01], errs: [''] },
      { mtype: 'TO_REMOTE_THROUGH_RELAY', rtts: [0.15, 0.5], errs: ['', 'timeout'] },
      { mtype: 'TO_REMOTE_AFTER_HOLE_PUNCH', rtts: [0.06, 0.07], errs: ['', ''] },
    ],
  },
  {
    host: 'A1',
    remote: 'R3',
    minutesAgo: 5,
    outcome: 'FAILED',
    attempts: [
      ['FAILED', 0.1],
      ['FAILED', 0.12],
      ['FAILED', 0.11],
    ],
    filter: TCP4,
    latency: [
      { mtype: 'TO_RELAY', rtts: [0.5], errs: ['timeout'] },
      { mtype: 'TO_REMOTE_THROUGH_RELAY', rtts: [0.09], errs: [''] },
    ],
  },
  {
    host: 'A2',
    remote: 'R1',
    minutesAgo: 8,
    outcome: 'SUCCESS',
    attempts: [['SUCCESS', 0.04]],
    filter: [],
    final: 'tcp/4',
    quirks: ['go-attempt-opened-late'],
  },
  {
    host: 'A2',
    remote: 'R2',
    minutesAgo: 12,
    outcome: 'FAILED',
    attempts: [['TIMEOUT', null]],
    filter: TCP6,
  },
  { host: 'A2', remote: 'R4', minutesAgo: 15, outcome: 'NO_STREAM', attempts: [], filter: [] },
  {
    host: 'B1',
    remote: 'R1',
    minutesAgo: 20,
    outcome: 'SUCCESS',
    attempts: [['DIRECT_DIAL', null]],
    filter: QUIC6,
    final: 'quic-v1/6',
    quirks: ['rust-elapsed-microseconds'],
  },
  { host: 'B1', remote: 'R3', minutesAgo: 25, outcome: 'NO_CONNECTION', attempts: [], filter: [] },
  {
    host: 'B1',
    remote: 'R2',
    minutesAgo: 40,
    outcome: 'FAILED',
    attempts: [['FAILED', 0.2]],
    filter: TCP4,
    quirks: ['rust-elapsed-microseconds'],
  },
  {
    host: 'A1',
    remote: 'R1',
    minutesAgo: 50,
    outcome: 'SUCCESS',
    attempts: [
      ['FAILED', 0.07],
      ['FAILED', 0.09],
      ['SUCCESS', 0.03],
    ],
    filter: [],
    final: 'tcp/4',
  },
  {
    host: 'A1',
    remote: 'R1',
    minutesAgo: 14_400,
    outcome: 'SUCCESS',
    attempts: [['SUCCESS', 0.05]],
    filter: TCP4,
    final: 'tcp/4',
  },
  {
    host: 'B1',
    remote: 'R2',
    minutesAgo: 14_410,
    outcome: 'FAILED',
    attempts: [['FAILED', 0.15]],
    filter: TCP4,
  },
]

const GEO: Record<string, { country: string; asn: number }> = {
  '11.1.0.1': { country: 'DE', asn: 3320 },
  '11.2.0.1': { country: 'US', asn: 7922 },
  '11.10.0.1': { country: 'FR', asn: 12322 },
  '11.20.0.1': { country: 'DE', asn: 3320 },
  '11.30.0.1': { country: 'US', asn: 7922 },
  '11.99.0.1': { country: 'NL', asn: 1136 },
}
const geo: GeoResolver = (ip) => GEO[ip] ?? { country: null, asn: null }

/** The punchr client each host runs, and the agent version that says so. */
/** The NAT mappings our client's seeded results report, in turn. */
const NAT_MAPPINGS = ['endpoint-independent', 'address-and-port-dependent', 'unknown'] as const

export const CLIENT: Record<Host, { implementation: string; agentVersion: string }> = {
  A1: { implementation: 'punchr-ts', agentVersion: 'punchr/ts-client/0.1.0 transports=tcp,quic' },
  A2: { implementation: 'punchr-go', agentVersion: 'punchr/go-client/v0.9.0' },
  B1: { implementation: 'punchr-rust', agentVersion: 'punchr/rust-client/0.1.0' },
}

const LISTEN: Record<Host, string[]> = {
  A1: ['/ip4/192.168.1.10/tcp/4001', '/ip4/11.1.0.1/tcp/4001'],
  A2: ['/ip4/11.2.0.1/tcp/4001'],
  B1: ['/ip4/192.168.1.2/tcp/4001'],
}
const REMOTE_IP: Record<Remote, string> = {
  R1: '11.10.0.1',
  R2: '11.20.0.1',
  R3: '11.30.0.1',
  R4: '10.0.0.5',
}
const AGENT: Record<Remote, string | null> = {
  R1: 'kubo/0.25.0',
  R2: 'kubo/0.24.0',
  R3: 'go-libp2p/0.33.0',
  R4: null,
}

const addr = (text: string): ClassifiedMultiaddr => classifyMultiaddr(multiaddr(text))

export interface SeededResult extends Row {
  id: number
  createdAt: Date
}

export interface DashboardSeed {
  /** The time the rows are dated from. */
  now: Date
  keys: { alice: string; bob: string }
  results: SeededResult[]
  remotes: Record<Remote, TestPeer>
}

/** Stores the data set described at the top of this file into a migrated, empty database. */
export async function seedDashboard(db: Database, now = new Date()): Promise<DashboardSeed> {
  const [alice, bob] = [await addApiKey(db, 'alice'), await addApiKey(db, 'bob')]
  const owner: Record<Host, number> = {
    A1: alice.authorization.id,
    A2: alice.authorization.id,
    B1: bob.authorization.id,
  }
  const clientIds = {} as Record<Host, number>
  for (const host of ['A1', 'A2', 'B1'] as const) {
    const peer = await newPeer()
    const peerId = await upsertPeer(db, { multiHash: peer.id, agentVersion: CLIENT[host].agentVersion })
    clientIds[host] = await registerClient(db, peerId, owner[host])
  }
  const relay = await newPeer()
  const remotes = {} as Record<Remote, TestPeer>
  for (const remote of ['R1', 'R2', 'R3', 'R4'] as const) remotes[remote] = await newPeer()
  const relayAddr = (remote: Remote) =>
    addr(`/ip4/11.99.0.1/tcp/4001/p2p/${relay.id}/p2p-circuit/p2p/${remotes[remote].id}`)

  for (const [remote, minutesAgo] of [
    ['R1', 2],
    ['R2', 2],
    ['R3', 30],
  ] as const) {
    await recordConnectionEvent(
      db,
      {
        remoteId: remotes[remote].id,
        agentVersion: AGENT[remote],
        protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
        listenAddrs: [relayAddr(remote)],
        connectionAddr: addr(`/ip4/${REMOTE_IP[remote]}/tcp/4001`),
        openedAt: new Date(now.getTime() - minutesAgo * 60_000),
      },
      geo,
    )
  }

  const results: SeededResult[] = []
  for (const [i, row] of ROWS.entries()) {
    const createdAt = new Date(now.getTime() - row.minutesAgo * 60_000)
    const at = (secondsBefore: number) => new Date(createdAt.getTime() - secondsBefore * 1000).toISOString()
    const ip = REMOTE_IP[row.remote]
    // R2 offers a private address first: geo must come from the first address that has it.
    const punched = [
      ...(row.remote === 'R2' ? [addr('/ip4/192.168.0.5/tcp/4001')] : []),
      addr(`/ip4/${ip}/tcp/4001`),
    ]
    const final = {
      'tcp/4': `/ip4/${ip}/tcp/4001`,
      'quic-v1/4': `/ip4/${ip}/udp/4001/quic-v1`,
      'quic-v1/6': '/ip6/2001:db8::1/udp/4001/quic-v1',
    }
    const report: HolePunchReport = {
      clientId: clientIds[row.host],
      remoteId: remotes[row.remote].id,
      remoteMultiAddresses: [relayAddr(row.remote)],
      connectStartedAt: at(10),
      connectEndedAt: at(9.9),
      attempts: row.attempts.map(([outcome, startRtt], n) => ({
        openedAt: at(9 - n * 2),
        startedAt: startRtt === null ? null : at(8.9 - n * 2),
        endedAt: at(8 - n * 2),
        startRtt,
        elapsedTime: 1,
        outcome,
        error: outcome === 'SUCCESS' ? null : 'dial tcp 192.168.0.5:4001: i/o timeout',
        directDialError: null,
        multiAddresses: punched,
      })),
      openMultiAddresses: [
        ...(row.outcome === 'NO_CONNECTION' ? [] : [relayAddr(row.remote)]),
        ...(row.final === undefined ? [] : [addr(final[row.final])]),
      ],
      hasDirectConns: row.final !== undefined,
      error: null,
      outcome: row.outcome,
      endedAt: at(1),
      listenMultiAddresses: LISTEN[row.host].map(addr),
      protocols: row.filter,
      latencies: (row.latency ?? []).map((l) => ({
        remoteId: l.mtype === 'TO_RELAY' ? relay.id : remotes[row.remote].id,
        agentVersion: l.mtype === 'TO_RELAY' ? 'go-libp2p/0.33.0' : (AGENT[row.remote] ?? ''),
        protocols: ['/ipfs/ping/1.0.0'],
        multiAddress: addr(l.mtype === 'TO_RELAY' ? '/ip4/11.99.0.1/tcp/4001' : `/ip4/${ip}/tcp/4001`),
        rtts: l.rtts,
        rttErrs: l.errs,
        mtype: l.mtype,
      })),
      networkInformation: null,
      // Port mappings on every fourth result; our client's results carry a NAT mapping.
      natMappings:
        i % 4 === 0
          ? [
              {
                internalPort: 4001,
                externalPort: 40001,
                protocol: 'tcp',
                addr: '11.99.0.30',
                addrNetwork: 'ip4',
              },
            ]
          : [],
      ...(CLIENT[row.host].implementation === 'punchr-ts'
        ? {
            natBehaviours: [
              {
                transport: 'tcp',
                ipVersion: 4,
                mapping: NAT_MAPPINGS[i % NAT_MAPPINGS.length]!,
                portPreserved: true,
                observations: 4,
                observerIps: 2,
              },
            ],
            clientNatMapping: NAT_MAPPINGS[i % NAT_MAPPINGS.length]!,
          }
        : {}),
      clientImplementation: CLIENT[row.host].implementation,
      quirks: row.quirks ?? [],
      reportSha256: createHash('sha256').update(`dashboard seed ${now.toISOString()} ${i}`).digest(),
    }
    const id = await insertHolePunchReport(db, report, geo, { createdAt: createdAt.toISOString() })
    if (id === undefined) throw new Error(`seed result #${i + 1} was not stored`)
    results.push({ ...row, id, createdAt })
  }
  return { now, keys: { alice: alice.key, bob: bob.key }, results, remotes }
}
