import * as multiaddrTable from '@multiformats/multiaddr'
import { isUsableInterfaceIp, PROTOCOL_CODES } from '../lib/multiaddr.js'
import type { FilterCapability, IpVersion, Transport } from './protocol-filter.js'

/**
 * What a client host can do with a GetAddrInfo answer, read from the agent version it
 * registered with and the listen addresses of its latest report. The original Go and Rust
 * punchr clients were built on multiaddr libraries of 2022: an address with a protocol code
 * they do not know costs the Go client the whole answer ("multi address from bytes: no
 * protocol with code 461"), and a filter they cannot run makes a round measure something else
 * than its stored filter says. docs/INTEROP.md ("Old punchr clients") has the evidence.
 */

/** The punchr client a host runs, as stored with each result (`client_implementation`). */
export type ClientImplementation = 'punchr-ts' | 'punchr-go' | 'punchr-rust' | 'other'

export const CLIENT_IMPLEMENTATIONS: readonly ClientImplementation[] = [
  'punchr-ts',
  'punchr-go',
  'punchr-rust',
  'other',
]

export interface ClientCapabilities {
  implementation: ClientImplementation
  /** Multiaddr protocol codes the client decodes; undefined = every code this server stores. */
  decodes: ReadonlySet<number> | undefined
  /** The protocol filters it can run (protocol-filter.ts draws among them). */
  filters: FilterCapability
}

const { TCP, QUIC_V1 } = PROTOCOL_CODES

/**
 * go-multiaddr v0.7.0's protocol table (protocols.go), which every released Go client was
 * built on (go.mod of the December 2022 campaign's v0.9 client: go-libp2p v0.23 and
 * go-multiaddr v0.7.0). It predates quic-v1 (461), webrtc (281) and http-path (481); its 280
 * is called `webrtc`, today's `webrtc-direct`, but the code is what decoding needs.
 */
const GO_MULTIADDR_0_7_CODES = new Set([
  4, 6, 33, 41, 42, 43, 53, 54, 55, 56, 132, 273, 276, 280, 290, 301, 302, 400, 421, 443, 444, 445, 446, 447,
  448, 449, 454, 460, 465, 466, 477, 478, 480, 7367777,
])

/**
 * The Rust multiaddr crate 0.16's table (src/protocol.rs), that of libp2p 0.50, which the
 * Rust client with API keys and QUIC used. It knows quic-v1 but not webtransport (465),
 * webrtc (281), http-path (481) or the garlic and sni protocols. That client drops an
 * address it cannot decode and keeps the rest, but an answer of such addresses only is a
 * round it reports as CANCELLED ("list of remote addresses is empty").
 */
const RUST_MULTIADDR_0_16_CODES = new Set([
  4, 6, 33, 41, 53, 54, 55, 56, 132, 273, 275, 276, 280, 290, 301, 302, 400, 421, 443, 444, 445, 448, 454,
  460, 461, 466, 477, 478, 479, 480, 777,
])

const TS_AGENT = 'punchr/ts-client/'
const GO_AGENT = 'punchr/go-client/'
const RUST_AGENT = 'punchr/rust-client/'

/** The implementation an agent version names; anything else is `other`. */
export function clientImplementation(agentVersion: string | null | undefined): ClientImplementation {
  const agent = agentVersion ?? ''
  if (agent.startsWith(TS_AGENT)) return 'punchr-ts'
  if (agent.startsWith(GO_AGENT)) return 'punchr-go'
  if (agent.startsWith(RUST_AGENT)) return 'punchr-rust'
  return 'other'
}

/**
 * The transports of our own client's `transports=` tag (`punchr/ts-client/0.1.0
 * transports=tcp,quic`); without a tag, both.
 */
export function announcedTransports(agentVersion: string): Transport[] {
  const match = /\btransports=([a-z0-9,-]+)/.exec(agentVersion)
  if (match === null) return ['tcp', 'quic']
  return match[1]!.split(',').filter((t): t is Transport => t === 'tcp' || t === 'quic')
}

/**
 * The IP versions of our own client's `ip=` tag (`… transports=tcp,quic ip=4,6`): the families
 * its hosts listen and punch on. Undefined without a tag (older versions of our client).
 */
export function announcedIpVersions(agentVersion: string): IpVersion[] | undefined {
  const match = /\bip=([0-9,]+)/.exec(agentVersion)
  if (match === null) return undefined
  return [...new Set(match[1]!.split(','))].flatMap((v) =>
    v === '4' ? [4] : v === '6' ? [6] : [],
  ) as IpVersion[]
}

/**
 * Capabilities of a host with this agent version, whose latest report listened on
 * `listenIpVersions` (null: no report yet).
 *
 * - Our client and unknown agents decode everything and run TCP and quic-v1 filters (ours:
 *   those of its `transports=` tag).
 * - The Go client decodes go-multiaddr 0.7's codes and runs TCP filters. It could run a QUIC
 *   draft-29 (460) filter, but no libp2p release of today listens on draft-29 (go-libp2p
 *   dropped it in 2023, js-libp2p never had it, rust-libp2p's quinn transport speaks v1), so
 *   such a filter would leave it nothing to dial, and it cannot dial quic-v1.
 * - The Rust client ignores the filter (it reports none and punches every address), so it is
 *   served none: the stored filter is then what it ran.
 *
 * An IP version filter needs an address of that version to punch from: our client names its
 * families (`ip=`); for the others the versions come from the host's reported listen
 * addresses, and until its first report such a host gets unfiltered rounds.
 */
export function clientCapabilities(
  agentVersion: string | null | undefined,
  listenIpVersions: readonly number[] | null,
): ClientCapabilities {
  const implementation = clientImplementation(agentVersion)
  const ipVersions = new Set(
    (listenIpVersions ?? []).filter((v): v is IpVersion => v === 4 || v === 6),
  ) as ReadonlySet<IpVersion>
  const quicV1 = new Map<Transport, number>([
    ['tcp', TCP],
    ['quic', QUIC_V1],
  ])
  switch (implementation) {
    case 'punchr-ts': {
      const announced = new Set(announcedTransports(agentVersion ?? ''))
      const transports = new Map([...quicV1].filter(([t]) => announced.has(t)))
      const families = announcedIpVersions(agentVersion ?? '')
      const versions = families === undefined ? ipVersions : new Set(families)
      return { implementation, decodes: undefined, filters: { transports, ipVersions: versions } }
    }
    case 'punchr-go':
      return {
        implementation,
        decodes: GO_MULTIADDR_0_7_CODES,
        filters: { transports: new Map([['tcp', TCP]]), ipVersions },
      }
    case 'punchr-rust':
      return {
        implementation,
        decodes: RUST_MULTIADDR_0_16_CODES,
        filters: { transports: new Map(), ipVersions },
      }
    case 'other':
      return { implementation, decodes: undefined, filters: { transports: quicV1, ipVersions } }
  }
}

/**
 * Every protocol code this server can store (the multiaddr table of @multiformats/multiaddr):
 * a stored address is made only of these.
 */
const KNOWN_CODES: readonly number[] = Object.entries(multiaddrTable).flatMap(([name, value]) =>
  name.startsWith('CODE_') && typeof value === 'number' ? [value] : [],
)

/**
 * The names, as stored addresses spell them, of the protocols a client does not decode;
 * empty when it decodes everything. The allocation query skips relay addresses with any of
 * them (src/db/allocation.ts).
 */
export function undecodableProtocolNames(decodes: ReadonlySet<number> | undefined): string[] {
  if (decodes === undefined) return []
  return KNOWN_CODES.filter((code) => !decodes.has(code)).map(
    (code) => multiaddrTable.registry.getProtocol(code).name,
  )
}

/**
 * The IP versions a host can punch from: those of its listen addresses that are usable
 * between networks (not loopback, link-local or unspecified), sorted.
 */
export function listenIpVersions(
  addrs: readonly { ip: string | null; ipVersion: 4 | 6 | null }[],
): IpVersion[] {
  const versions = new Set<IpVersion>()
  for (const { ip, ipVersion } of addrs) {
    if (ip !== null && ipVersion !== null && isUsableInterfaceIp(ip)) versions.add(ipVersion)
  }
  return [...versions].sort()
}
