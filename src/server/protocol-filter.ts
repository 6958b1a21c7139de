import { PROTOCOL_CODES } from '../lib/multiaddr.js'

const { IP4, IP6 } = PROTOCOL_CODES

export type Transport = 'tcp' | 'quic'
export type IpVersion = 4 | 6

/**
 * The filters GetAddrInfo serves and their shares: 15 % each of ip4+tcp, ip4+quic, ip6+tcp,
 * ip6+quic, 40 % none (docs/PROTOCOL.md, "Allocation"). A filter's codes are the
 * IP version's and the transport's in the client's own codes (client-capabilities.ts): our
 * clients get quic-v1 (461).
 */
export const FILTER_SHARES: readonly { ipVersion?: IpVersion; transport?: Transport; share: number }[] = [
  { ipVersion: 4, transport: 'tcp', share: 0.15 },
  { ipVersion: 4, transport: 'quic', share: 0.15 },
  { ipVersion: 6, transport: 'tcp', share: 0.15 },
  { ipVersion: 6, transport: 'quic', share: 0.15 },
  { share: 0.4 },
]

/** The filters a client can run: its transports (with the code it knows each by) and IP versions. */
export interface FilterCapability {
  transports: ReadonlyMap<Transport, number>
  ipVersions: ReadonlySet<IpVersion>
}

/**
 * Draws a filter with the shares above among those the client can run; the shares of the
 * filters it cannot run are spread proportionally over the rest. `random` is in [0, 1).
 */
export function chooseProtocolFilter(can: FilterCapability, random: number = Math.random()): number[] {
  const usable = FILTER_SHARES.filter(
    (f) =>
      (f.transport === undefined || can.transports.has(f.transport)) &&
      (f.ipVersion === undefined || can.ipVersions.has(f.ipVersion)),
  )
  const total = usable.reduce((sum, f) => sum + f.share, 0)
  // Compare against running totals (not a decremented threshold): subtraction would leave
  // rounding residue at the share boundaries, e.g. 0.6 - 4 × 0.15 < 0.
  const target = random * total
  let cumulative = 0
  let chosen = usable.at(-1)!
  for (const f of usable) {
    cumulative += f.share
    if (target < cumulative) {
      chosen = f
      break
    }
  }
  if (chosen.ipVersion === undefined || chosen.transport === undefined) return []
  return [chosen.ipVersion === 4 ? IP4 : IP6, can.transports.get(chosen.transport)!]
}

/** The client's filters narrowed to the IP versions the remote can be punched on. */
export function withRemoteIpVersions(can: FilterCapability, remote: ReadonlySet<number>): FilterCapability {
  return { transports: can.transports, ipVersions: new Set([...can.ipVersions].filter((v) => remote.has(v))) }
}
