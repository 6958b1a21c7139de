import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Component, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { unmapIPv4 } from '../lib/multiaddr.js'

/** A multiaddr that is not `/ip4|ip6/<ip>/udp/<port>/quic-v1[/p2p/<peer>]`; the message says why. */
export class QuicMultiaddrError extends Error {
  override readonly name = 'QuicMultiaddrError'
}

/** A QUIC v1 address this transport can listen on or dial. */
export interface QuicAddress {
  family: 4 | 6
  host: string
  port: number
  /** The peer the address names with `/p2p/`, if it does. */
  peerId?: PeerId
}

/**
 * Parses `/ip4|ip6/<ip>/udp/<port>/quic-v1`, optionally followed by `/p2p/<peer>`. Everything
 * else is refused with the reason: `/quic` (draft-29, which go-libp2p and rust-libp2p dropped
 * and quiche does not speak), names that would need DNS, and addresses that only run over QUIC
 * (webtransport, relay circuits), which belong to other transports.
 */
export function parseQuicAddress(ma: Multiaddr): QuicAddress {
  const [ip, udp, quic, p2p, ...rest] = ma.getComponents()
  const refuse = (why: string) => new QuicMultiaddrError(`${ma.toString()}: ${why}`)
  if (ip?.name !== 'ip4' && ip?.name !== 'ip6') throw refuse('a QUIC address starts with /ip4 or /ip6')
  if (udp?.name !== 'udp') throw refuse('the IP address must be followed by /udp/<port>')
  if (quic?.name === 'quic') throw refuse('/quic is QUIC draft-29, which is not supported; use /quic-v1')
  if (quic?.name !== 'quic-v1') throw refuse('the UDP port must be followed by /quic-v1')
  if (p2p !== undefined && p2p.name !== 'p2p') throw refuse(`/${p2p.name} after /quic-v1 is not plain QUIC`)
  if (rest.length > 0) throw refuse('nothing may follow /p2p/<peer>')
  return {
    family: ip.name === 'ip4' ? 4 : 6,
    host: requiredValue(ip),
    port: Number(requiredValue(udp)),
    ...(p2p === undefined ? {} : { peerId: peerIdFromString(requiredValue(p2p)) }),
  }
}

/** True when `parseQuicAddress` would accept the address. */
export function isQuicAddress(ma: Multiaddr): boolean {
  try {
    parseQuicAddress(ma)
    return true
  } catch {
    return false
  }
}

/**
 * The multiaddr of a UDP endpoint. A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d); they are written as `/ip4` so that they compare equal to the
 * addresses the peers announce.
 */
export function formatQuicAddress(host: string, port: number, peerId?: PeerId): Multiaddr {
  const v4 = unmapIPv4(host)
  const ip = v4 ?? host
  const family = v4 !== null || !host.includes(':') ? 'ip4' : 'ip6'
  const p2p = peerId === undefined ? '' : `/p2p/${peerId.toString()}`
  return multiaddr(`/${family}/${ip}/udp/${port}/quic-v1${p2p}`)
}

function requiredValue(component: Component): string {
  if (component.value === undefined) throw new QuicMultiaddrError(`/${component.name} has no value`)
  return component.value
}
