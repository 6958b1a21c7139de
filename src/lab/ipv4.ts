/** IPv4 address arithmetic for the lab's address plan (numbers are unsigned 32-bit). */

export interface Cidr {
  /** The network address as a number. */
  base: number
  bits: number
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined
    n = n * 256 + Number(part)
  }
  return n
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.')
}

/** Parses `a.b.c.d/n`; `hostBitsSet` tells a caller to suggest the network address instead. */
export function parseCidr(text: string): (Cidr & { hostBitsSet: boolean }) | undefined {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim())
  if (match === null) return undefined
  const ip = parseIPv4(match[1]!)
  const bits = Number(match[2])
  if (ip === undefined || bits > 32) return undefined
  const base = networkOf(ip, bits)
  return { base, bits, hostBitsSet: base !== ip }
}

export function formatCidr({ base, bits }: Cidr): string {
  return `${formatIPv4(base)}/${bits}`
}

function networkOf(ip: number, bits: number): number {
  return bits === 0 ? 0 : (ip & (0xffffffff << (32 - bits))) >>> 0
}

export function size({ bits }: Cidr): number {
  return 2 ** (32 - bits)
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits)
  return networkOf(a.base, bits) === networkOf(b.base, bits)
}

/**
 * IPv4 ranges libp2p treats as private (its `isPrivateIp`, the IANA special-purpose registry):
 * DCUtR silently drops such addresses, so the lab's "internet" must avoid all of them. Kept in
 * step with src/lib/multiaddr.ts by a unit test.
 */
export const NON_PUBLIC_RANGES: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network" (RFC 791)' },
  { cidr: '10.0.0.0/8', what: 'private use (RFC 1918); the lab uses it for its home LANs' },
  { cidr: '100.64.0.0/10', what: 'shared address space for carrier-grade NAT (RFC 6598)' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local (RFC 3927)' },
  { cidr: '172.16.0.0/12', what: 'private use (RFC 1918)' },
  { cidr: '192.0.0.0/24', what: 'IETF protocol assignments (RFC 6890)' },
  { cidr: '192.0.2.0/24', what: 'TEST-NET-1 documentation range (RFC 5737)' },
  { cidr: '192.88.99.0/24', what: '6to4 relay anycast (RFC 7526)' },
  { cidr: '192.168.0.0/16', what: 'private use (RFC 1918)' },
  { cidr: '198.18.0.0/15', what: 'benchmarking (RFC 2544)' },
  { cidr: '198.51.100.0/24', what: 'TEST-NET-2 documentation range (RFC 5737)' },
  { cidr: '203.0.113.0/24', what: 'TEST-NET-3 documentation range (RFC 5737)' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved (RFC 1112), including the broadcast address' },
]

/** The first non-public range `cidr` overlaps, or undefined when it is entirely public. */
export function nonPublicOverlap(cidr: Cidr): { cidr: string; what: string } | undefined {
  return NON_PUBLIC_RANGES.find((range) => overlaps(cidr, parseCidr(range.cidr)!))
}
