import { ConfigError } from '../lib/errors.js'
import { PROTOCOL_CODES } from '../lib/multiaddr.js'

const { IP4, IP6 } = PROTOCOL_CODES

export type Transport = 'tcp' | 'quic'
export type IpVersion = 4 | 6

/** One protocol filter (none: both fields undefined) and its share of the draws. */
export interface FilterShare {
  ipVersion?: IpVersion
  transport?: Transport
  share: number
}

/**
 * The filters GetAddrInfo serves and their shares: 15 % each of ip4+tcp, ip4+quic, ip6+tcp,
 * ip6+quic, 40 % none (docs/PROTOCOL.md, "Allocation"); `--filter-shares` sets others. A
 * filter's codes are the IP version's and the transport's in the client's own codes
 * (client-capabilities.ts): our clients get quic-v1 (461).
 */
export const FILTER_SHARES: readonly FilterShare[] = [
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
export function chooseProtocolFilter(
  can: FilterCapability,
  random: number = Math.random(),
  shares: readonly FilterShare[] = FILTER_SHARES,
): number[] {
  const usable = shares.filter(
    (f) =>
      (f.transport === undefined || can.transports.has(f.transport)) &&
      (f.ipVersion === undefined || can.ipVersions.has(f.ipVersion)),
  )
  const total = usable.reduce((sum, f) => sum + f.share, 0)
  // Nothing usable has a share (e.g. only ip6 filters for an IPv4-only client): no filter.
  if (total === 0) return []
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

/** `FILTER_SHARES` in the form `--filter-shares` takes. */
export const DEFAULT_FILTER_SHARES_TEXT = 'ip4+tcp=15,ip4+quic=15,ip6+tcp=15,ip6+quic=15,none=40'

/**
 * Reads `--filter-shares`: `<filter>=<weight>` by commas, a filter being ip4+tcp, ip4+quic,
 * ip6+tcp, ip6+quic or none; weights are relative, filters left out get none. A campaign that
 * studies IPv6, say, gives the ip6 filters more (`ip6+tcp=40,ip6+quic=40,none=20`).
 */
export function parseFilterShares(text: string): FilterShare[] {
  const fail = (why: string): never => {
    throw new ConfigError(
      `--filter-shares ${JSON.stringify(text)}: ${why}; e.g. ${DEFAULT_FILTER_SHARES_TEXT}`,
    )
  }
  const shares: FilterShare[] = []
  const seen = new Set<string>()
  for (const part of text.split(',').map((p) => p.trim())) {
    const match = /^(none|ip([46])\+(tcp|quic))=(\d+(?:\.\d+)?)$/.exec(part)
    if (match === null) return fail(`"${part}" is not <ip4|ip6>+<tcp|quic>=<weight> or none=<weight>`)
    const [, name, version, transport, weight] = match
    if (seen.has(name!)) return fail(`${name} is given twice`)
    seen.add(name!)
    shares.push({
      ...(version === undefined
        ? {}
        : { ipVersion: Number(version) as IpVersion, transport: transport as Transport }),
      share: Number(weight),
    })
  }
  if (shares.every((s) => s.share === 0)) fail('every weight is 0')
  return shares
}
