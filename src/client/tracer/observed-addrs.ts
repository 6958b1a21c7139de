// Our own addresses as other peers see them, from identify on direct connections. libp2p's
// address manager cannot supply them: identify drops every observed TCP address (identify.js
// maybeAddObservedAddress, js-libp2p#2620, because dials used to leave from random ports) and
// the address manager only hands out observed addresses once AutoNAT verified them, which a
// peer behind a NAT never gets. With a fixed dial port the relay's observation is exactly the
// NAT mapping the punch reuses, so we keep the most recent observations ourselves.
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayAddr } from '../../lib/multiaddr.js'
import { MAX_OBSERVED_ADDRS } from './constants.js'

const CODE_P2P = 421

export class ObservedAddrs {
  // Insertion order is recency order: a repeated observation moves to the end.
  private readonly addrs = new Map<string, Multiaddr>()

  constructor(private readonly max = MAX_OBSERVED_ADDRS) {}

  /** Takes identify's observation over `connection`; relayed connections tell nothing about us. */
  observe(observedAddr: Multiaddr | undefined, connection: Pick<Connection, 'remoteAddr'>): void {
    if (observedAddr === undefined || isRelayAddr(connection.remoteAddr) || isRelayAddr(observedAddr)) return
    const addr = withoutPeerId(observedAddr)
    const key = addr.toString()
    this.addrs.delete(key)
    this.addrs.set(key, addr)
    while (this.addrs.size > this.max) this.addrs.delete(this.addrs.keys().next().value!)
  }

  /** The observed addresses, the most recent first. */
  list(): Multiaddr[] {
    return [...this.addrs.values()].reverse()
  }

  clear(): void {
    this.addrs.clear()
  }
}

/** The address without a trailing `/p2p/<id>` (the remote adds our id when it dials). */
export function withoutPeerId(addr: Multiaddr): Multiaddr {
  return addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
}
