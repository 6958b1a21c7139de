import { isIPv4, isIPv6 } from 'node:net'
import { type Component, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { BoundedMemo } from './recent-map.js'

/** Bytes from the wire are not a well-formed multiaddr; the message says why. */
export class InvalidMultiaddrError extends Error {
  override readonly name = 'InvalidMultiaddrError'
}

/**
 * Multicodec codes used by the protocol filter of GetAddrInfo / TrackHolePunch (docs/PROTOCOL.md,
 * "Wire API").
 */
export const PROTOCOL_CODES = {
  IP4: 4,
  TCP: 6,
  IP6: 41,
  QUIC: 460,
  QUIC_V1: 461,
} as const

// Codes needed for classification beyond the filter codes above.
const CODE = {
  DNS: 53,
  DNS4: 54,
  DNS6: 55,
  DNSADDR: 56,
  WEBRTC_DIRECT: 280,
  WEBRTC: 281,
  P2P_CIRCUIT: 290,
  TLS: 448,
  WEBTRANSPORT: 465,
  WS: 477,
  WSS: 478,
} as const

const DNS_CODES = new Set<number>([CODE.DNS, CODE.DNS4, CODE.DNS6, CODE.DNSADDR])

/** A multiaddr classified for storage: what the server and the honeypot store about it. */
export interface ClassifiedMultiaddr {
  maddr: string
  isRelay: boolean
  isPublic: boolean
  ip: string | null
  ipVersion: 4 | 6 | null
  transport: string | null
}

/**
 * Decodes binary multiaddr bytes from a client. @multiformats/multiaddr 13 is lenient: it
 * accepts an empty buffer (as `/`), silently truncates a variable-length value whose length
 * prefix points past the end, and throws RangeError/UnknownProtocolError for other defects.
 * So every failure is wrapped into InvalidMultiaddrError, and the parse must survive a
 * round trip (bytes → string → bytes) to catch what the decoder lets through.
 */
export function parseMultiaddrBytes(bytes: Uint8Array): Multiaddr {
  if (bytes.length === 0) throw new InvalidMultiaddrError('empty multiaddr')
  let ma: Multiaddr
  let reencoded: Uint8Array
  try {
    ma = multiaddr(bytes)
    reencoded = multiaddr(ma.toString()).bytes
  } catch (err) {
    throw new InvalidMultiaddrError(`malformed multiaddr 0x${preview(bytes)}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  if (!bytesEqual(reencoded, bytes)) {
    throw new InvalidMultiaddrError(
      `malformed multiaddr 0x${preview(bytes)}: does not round-trip (decoded as ${ma.toString()})`,
    )
  }
  return ma
}

/** Classifies a multiaddr for storage: relay?, public?, IP, transport. */
export function classifyMultiaddr(ma: Multiaddr): ClassifiedMultiaddr {
  const components = ma.getComponents()
  const ipComponent = components.find((c) => c.code === PROTOCOL_CODES.IP4 || c.code === PROTOCOL_CODES.IP6)
  const ip = ipComponent?.value ?? null
  const ipVersion = ipComponent === undefined ? null : ipComponent.code === PROTOCOL_CODES.IP4 ? 4 : 6
  return {
    maddr: ma.toString(),
    isRelay: isRelayComponents(components),
    isPublic: ip !== null ? isPublicIp(ip) : isPublicHost(components),
    ip,
    ipVersion,
    transport: transportOf(relayHop(components)),
  }
}

/**
 * parseMultiaddrBytes then classifyMultiaddr, remembered for the last 8 192–16 384 distinct
 * addresses: reports repeat the same few (a host's listen addresses, a remote's addresses and
 * relays), and parsing them through @multiformats/multiaddr was the largest share of the
 * server's CPU per report. The classification returned is shared, so it is frozen.
 */
export function classifyMultiaddrBytes(bytes: Uint8Array): ClassifiedMultiaddr {
  return classifiedAddresses.get(bytes)
}

// Longer addresses (rare: a long DNS name, many components) are parsed every time.
const classifiedAddresses = new BoundedMemo(
  (bytes) => Object.freeze(classifyMultiaddr(parseMultiaddrBytes(bytes))),
  8192,
  256,
)

/** True when the address goes through a circuit relay. */
export function isRelayAddr(ma: Multiaddr): boolean {
  return isRelayComponents(ma.getComponents())
}

/**
 * True when every code of the filter appears in the address. QUIC draft-29 (460) and
 * quic-v1 (461) count as the same protocol because old clients still send 460 (docs/PROTOCOL.md,
 * "Wire API").
 * An empty filter matches everything.
 */
export function matchesProtocolFilter(ma: Multiaddr, codes: readonly number[]): boolean {
  const present = new Set(ma.getComponents().map((c) => normalizeQuic(c.code)))
  return codes.every((code) => present.has(normalizeQuic(code)))
}

function normalizeQuic(code: number): number {
  return code === PROTOCOL_CODES.QUIC ? PROTOCOL_CODES.QUIC_V1 : code
}

function isRelayComponents(components: readonly Component[]): boolean {
  return components.some((c) => c.code === CODE.P2P_CIRCUIT)
}

// For a relay address the transport that matters is the one used to reach the relay, i.e.
// everything before /p2p-circuit (what follows is only the remote's /p2p or /webrtc).
function relayHop(components: readonly Component[]): readonly Component[] {
  const circuit = components.findIndex((c) => c.code === CODE.P2P_CIRCUIT)
  return circuit === -1 ? components : components.slice(0, circuit)
}

/**
 * The transport and IP version a protocol filter (multicodec codes, docs/PROTOCOL.md) pins a
 * round to; undefined where the filter leaves it open. TCP first, as the dashboard groups them
 * (RESULT_GROUPS in src/db/hole-punches.ts); a filter the server serves names one of each.
 */
export function filterTransport(protocols: readonly number[]): 'tcp' | 'quic' | undefined {
  if (protocols.includes(PROTOCOL_CODES.TCP)) return 'tcp'
  if (protocols.includes(PROTOCOL_CODES.QUIC) || protocols.includes(PROTOCOL_CODES.QUIC_V1)) return 'quic'
  return undefined
}

export function filterIpVersion(protocols: readonly number[]): 4 | 6 | undefined {
  if (protocols.includes(PROTOCOL_CODES.IP4)) return 4
  if (protocols.includes(PROTOCOL_CODES.IP6)) return 6
  return undefined
}

/**
 * The outermost transport of a (non-relay) address. Order matters: webtransport runs over
 * quic-v1 and ws over tcp, so the more specific protocol wins. `/tls/ws` is the newer
 * spelling of `/wss`. webrtc-direct (280) is reported apart from browser webrtc (281).
 */
function transportOf(components: readonly Component[]): string | null {
  const codes = new Set(components.map((c) => c.code))
  if (codes.has(CODE.WEBTRANSPORT)) return 'webtransport'
  if (codes.has(CODE.WEBRTC_DIRECT)) return 'webrtc-direct'
  if (codes.has(CODE.WEBRTC)) return 'webrtc'
  if (codes.has(CODE.WSS) || (codes.has(CODE.WS) && codes.has(CODE.TLS))) return 'wss'
  if (codes.has(CODE.WS)) return 'ws'
  if (codes.has(PROTOCOL_CODES.QUIC_V1)) return 'quic-v1'
  if (codes.has(PROTOCOL_CODES.QUIC)) return 'quic'
  if (codes.has(PROTOCOL_CODES.TCP)) return 'tcp'
  return null
}

// A DNS name is assumed to resolve to a public IP unless it is a loopback name (RFC 6761).
// Addresses with neither IP nor DNS (/unix, /memory, bare /p2p) are not public.
function isPublicHost(components: readonly Component[]): boolean {
  const dns = components.find((c) => DNS_CODES.has(c.code))
  if (dns?.value === undefined) return false
  const name = dns.value.toLowerCase().replace(/\.$/, '')
  return name !== 'localhost' && !name.endsWith('.localhost')
}

/* ---------- IP addresses ---------- */

/** An IPv4 address as an unsigned 32-bit number, or null if the string is not one. */
export function parseIPv4(ip: string): number | null {
  if (!isIPv4(ip)) return null
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0)
}

/** An IPv6 address (optionally with %zone or a dotted IPv4 tail) as a 128-bit bigint, or null. */
export function parseIPv6(ip: string): bigint | null {
  if (!isIPv6(ip)) return null
  const hextets = expandIPv6(ip.split('%')[0] ?? '')
  if (hextets === null) return null
  return hextets.reduce((acc, h) => (acc << 16n) | BigInt(h), 0n)
}

/** A 128-bit IPv6 address as text, zeros compressed (`2600:11::1`). */
export function formatIPv6(ip: bigint): string {
  const hextets = Array.from({ length: 8 }, (_, i) => ((ip >> BigInt(112 - 16 * i)) & 0xffffn).toString(16))
  // The URL parser writes the canonical form (RFC 5952: the longest run of zeros as ::).
  return new URL(`http://[${hextets.join(':')}]`).hostname.slice(1, -1)
}

function expandIPv6(addr: string): number[] | null {
  // A dotted IPv4 tail (::ffff:1.2.3.4) stands for the last two hextets; rewrite it as hex.
  const lastColon = addr.lastIndexOf(':')
  const v4 = parseIPv4(addr.slice(lastColon + 1))
  const text =
    v4 === null
      ? addr
      : `${addr.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  const [head, rest] = text.split('::') as [string, string | undefined]
  const left = hextets(head)
  const right = rest === undefined ? [] : hextets(rest)
  const missing = 8 - left.length - right.length
  if (missing < 0 || (rest === undefined && missing !== 0)) return null
  return [...left, ...new Array<number>(missing).fill(0), ...right]
}

function hextets(text: string): number[] {
  return text === '' ? [] : text.split(':').map((h) => Number.parseInt(h, 16))
}

interface Cidr<T> {
  base: T
  bits: number
}

function cidr4(text: string): Cidr<number> {
  const [ip, bits] = text.split('/') as [string, string]
  return { base: parseIPv4(ip)!, bits: Number(bits) }
}

function cidr6(text: string): Cidr<bigint> {
  const [ip, bits] = text.split('/') as [string, string]
  return { base: parseIPv6(ip)!, bits: Number(bits) }
}

// IANA special-purpose IPv4 ranges that are not globally reachable (RFC 6890 and successors).
// 11.0.0.0/8 is deliberately absent: it is public (DoD) and the NAT lab uses it as such.
const PRIVATE_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4', // includes 255.255.255.255
].map(cidr4)

// Only 2000::/3 is allocated global unicast; everything else (::, ::1, fc00::/7, fe80::/10,
// ff00::/8, 64:ff9b:1::/48, 100::/64, …) is not public by construction. These are the
// non-global holes inside 2000::/3.
const GLOBAL_UNICAST_V6 = cidr6('2000::/3')
const PRIVATE_V6 = [
  '2001:2::/48', // benchmarking
  '2001:10::/28', // deprecated ORCHID
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation (RFC 9637)
].map(cidr6)

// Prefixes that embed an IPv4 address in the low 32 bits: judge them by that address.
const V4_EMBEDDING_V6 = [
  '::ffff:0:0/96', // IPv4-mapped
  '64:ff9b::/96', // NAT64 well-known prefix (RFC 6052 forbids it for private IPv4)
].map(cidr6)

function inCidr4(ip: number, { base, bits }: Cidr<number>): boolean {
  if (bits === 0) return true
  const shift = 32 - bits
  return ip >>> shift === base >>> shift
}

function inCidr6(ip: bigint, { base, bits }: Cidr<bigint>): boolean {
  const shift = BigInt(128 - bits)
  return ip >> shift === base >> shift
}

/** True when the IPv4 or IPv6 address is globally routable; false for anything unparsable. */
export function isPublicIp(ip: string): boolean {
  const v4 = parseIPv4(ip)
  if (v4 !== null) return isPublicV4(v4)
  const v6 = parseIPv6(ip)
  return v6 !== null && isPublicV6(v6)
}

/**
 * True when a host's own address can carry traffic to another network, public or behind a
 * NAT: not loopback, link-local, unspecified or multicast (private ranges count: a NATed
 * host's address is private). False for anything unparsable.
 */
export function isUsableInterfaceIp(ip: string): boolean {
  const v4 = parseIPv4(ip)
  if (v4 !== null) return !NOT_INTERFACE_V4.some((range) => inCidr4(v4, range))
  const v6 = parseIPv6(ip)
  return v6 !== null && !NOT_INTERFACE_V6.some((range) => inCidr6(v6, range))
}

const NOT_INTERFACE_V4 = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4'].map(cidr4)
const NOT_INTERFACE_V6 = ['::/128', '::1/128', 'fe80::/10', 'ff00::/8', '::ffff:0:0/96'].map(cidr6)

function isPublicV4(ip: number): boolean {
  return !PRIVATE_V4.some((range) => inCidr4(ip, range))
}

function isPublicV6(ip: bigint): boolean {
  if (V4_EMBEDDING_V6.some((range) => inCidr6(ip, range))) return isPublicV4(Number(ip & 0xffffffffn))
  return inCidr6(ip, GLOBAL_UNICAST_V6) && !PRIVATE_V6.some((range) => inCidr6(ip, range))
}

/**
 * The IPv4 address embedded in an IPv4-mapped IPv6 address (::ffff:a.b.c.d), as dotted
 * text, or null. Geo databases index such addresses under their IPv4 form.
 */
export function unmapIPv4(ip: string): string | null {
  const v6 = parseIPv6(ip)
  if (v6 === null || !inCidr6(v6, V4_EMBEDDING_V6[0]!)) return null
  const v4 = Number(v6 & 0xffffffffn)
  return [v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff].join('.')
}

/* ---------- helpers ---------- */

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

// Error messages include the offending bytes, capped so a huge payload cannot flood logs.
function preview(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.subarray(0, 64)).toString('hex')
  return bytes.length > 64 ? `${hex}… (${bytes.length} bytes)` : hex
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
