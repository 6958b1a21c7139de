// Which addresses of a remote's CONNECT a host may dial at all. The remote chooses them, and a
// hole punch dials them at once from a fixed port, several times a round, from every client
// the remote is handed to: without limits a remote could aim volunteers' dials at a third
// party (docs/SECURITY.md, "Addresses a remote asks us to dial"). So a punch target must be an
// IP address (a DNS name could point anywhere), with a port, public unless the host was told
// otherwise (a testbed on loopback or a LAN), not an address of the punchr infrastructure the
// client talks to (its relays, server and bootstrap peers), and a CONNECT yields only a few.
import { BlockList, isIP } from 'node:net'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isPublicIp } from '../lib/multiaddr.js'

/** Addresses of one CONNECT a host dials at most (an honest remote lists a handful). */
export const MAX_PUNCH_ADDRS = 8

/**
 * Distinct IPs per IP version of one CONNECT a host dials at most. A NATed peer has one public
 * IPv4 address (a symmetric NAT shows it with several ports) and one or two IPv6 addresses.
 */
export const MAX_PUNCH_IPS_PER_VERSION = 2

/** Why a CONNECT address is not a punch target. */
export type RefusalReason =
  /** Not `/ip4|ip6/<ip>/…` (a DNS name, a unix socket…). */
  | 'not-ip'
  /** Private, loopback, link-local, shared, documentation… (IANA special-purpose ranges). */
  | 'private'
  /** Unspecified, multicast or broadcast: never one peer's address, even on a testbed. */
  | 'not-unicast'
  /** Port 0. */
  | 'port'
  /** The IP (public) or endpoint (private) of a relay, the server or a bootstrap peer we talk to. */
  | 'infrastructure'
  /** Beyond MAX_PUNCH_ADDRS or MAX_PUNCH_IPS_PER_VERSION. */
  | 'too-many'

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'not-ip',
  'private',
  'not-unicast',
  'port',
  'infrastructure',
  'too-many',
]

export interface PunchTargetRules {
  /** Dial private and loopback addresses too (testbeds; never on the public network). */
  allowPrivate: boolean
  /** What is never a punch target: relays, the server, bootstrap peers (`infrastructureKeys`). */
  infrastructure: ReadonlySet<string>
}

/**
 * The keys `rules.infrastructure` holds for the endpoints of the relays, the server and the
 * bootstrap peers: a public IP as a whole (nothing else of ours lives there), a private or
 * loopback one only with its port, since on a testbed every node may share 127.0.0.1.
 */
export function infrastructureKeys(endpoints: Iterable<{ ip: string; port?: number }>): Set<string> {
  const keys = new Set<string>()
  for (const { ip, port } of endpoints) {
    if (isPublicIp(ip)) keys.add(ip)
    else if (port !== undefined) keys.add(`${ip} ${port}`)
  }
  return keys
}

/** The IP and port of `addr` (`/ip4|ip6/<ip>/tcp|udp/<port>/…`), when it has them. */
export function endpointOf(addr: Multiaddr): { ip: string; port?: number } | undefined {
  const host = hostOf(addr)
  if (host === undefined) return undefined
  const port = addr.getComponents()[1]
  return port !== undefined && (port.name === 'tcp' || port.name === 'udp')
    ? { ip: host.ip, port: Number(port.value) }
    : { ip: host.ip }
}

export interface Screened {
  accepted: Multiaddr[]
  refused: { addr: Multiaddr; reason: RefusalReason }[]
}

const NOT_UNICAST = new BlockList()
NOT_UNICAST.addSubnet('0.0.0.0', 8, 'ipv4')
NOT_UNICAST.addSubnet('224.0.0.0', 4, 'ipv4')
NOT_UNICAST.addSubnet('240.0.0.0', 4, 'ipv4')
NOT_UNICAST.addAddress('::', 'ipv6')
NOT_UNICAST.addSubnet('ff00::', 8, 'ipv6')

/** The addresses that are acceptable kinds of punch target, in their order, and why the others are not. */
export function screenPunchTargets(addrs: readonly Multiaddr[], rules: PunchTargetRules): Screened {
  const screened: Screened = { accepted: [], refused: [] }
  for (const addr of addrs) {
    const reason = refusalOf(addr, rules)
    if (reason === undefined) screened.accepted.push(addr)
    else screened.refused.push({ addr, reason })
  }
  return screened
}

/**
 * The first MAX_PUNCH_ADDRS addresses of at most MAX_PUNCH_IPS_PER_VERSION IPs per version;
 * call it with screened addresses, after any filter that prefers some of them.
 */
export function capPunchTargets(addrs: readonly Multiaddr[]): Screened {
  const screened: Screened = { accepted: [], refused: [] }
  const ips = { 4: new Set<string>(), 6: new Set<string>() }
  for (const addr of addrs) {
    const host = hostOf(addr)
    const seen = host === undefined ? undefined : ips[host.version]
    const newIp = seen !== undefined && host !== undefined && !seen.has(host.ip)
    if (
      screened.accepted.length >= MAX_PUNCH_ADDRS ||
      (newIp && seen !== undefined && seen.size >= MAX_PUNCH_IPS_PER_VERSION)
    ) {
      screened.refused.push({ addr, reason: 'too-many' })
      continue
    }
    if (newIp && host !== undefined) seen?.add(host.ip)
    screened.accepted.push(addr)
  }
  return screened
}

/** The IP of `addr`'s first component when that is /ip4 or /ip6. */
export function hostOf(addr: Multiaddr): { ip: string; version: 4 | 6 } | undefined {
  const first = addr.getComponents()[0]
  if (first?.value === undefined) return undefined
  if (first.name === 'ip4') return { ip: first.value, version: 4 }
  if (first.name === 'ip6') return { ip: first.value.split('%')[0]!.toLowerCase(), version: 6 }
  return undefined
}

function refusalOf(addr: Multiaddr, rules: PunchTargetRules): RefusalReason | undefined {
  const host = hostOf(addr)
  if (host === undefined || isIP(host.ip) === 0) return 'not-ip'
  if (NOT_UNICAST.check(host.ip, host.version === 4 ? 'ipv4' : 'ipv6')) return 'not-unicast'
  if (!rules.allowPrivate && !isPublicIp(host.ip)) return 'private'
  const port = endpointOf(addr)?.port
  if (port === undefined || port === 0) return 'port'
  if (rules.infrastructure.has(host.ip) || rules.infrastructure.has(`${host.ip} ${port}`))
    return 'infrastructure'
  return undefined
}
