import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { isQuicAddress } from '../../quic/multiaddr.js'
import { quicTransport } from '../../quic/transport.js'

const CODE_P2P = 421

/** The address without a trailing `/p2p/<id>`. */
export function withoutPeerId(addr: Multiaddr): Multiaddr {
  return addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
}

/** Polls `check` every 20 ms until it holds; rejects after `ms` or when `signal` aborts. */
export async function until(
  what: string,
  check: () => boolean,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    signal?.throwIfAborted()
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Lab peers take connections faster than any peer on the real network: a campaign connects
 * every ~150 ms, all from one address (a home's router, or the relay for relayed connections).
 * libp2p's default of 5 inbound connections per address and second drops the sixth silently.
 */
export const LAB_CONNECTION_LIMITS = {
  inboundConnectionThreshold: 1_000,
  maxIncomingPendingConnections: 1_000,
}

/**
 * js-libp2p pings every connection and aborts it when a ping takes longer than a timeout it
 * adapts to the RTTs seen so far. When a `slow-relay` remote's link slows down (by a second each
 * way, after the reservation was made on a fast one), the remote and the relay would cut their
 * connection at the first ping: lab peers keep pinging but never abort for it. A dead peer's
 * connection still ends when TCP or QUIC gives up.
 */
export const LAB_CONNECTION_MONITOR = { abortConnectionOnPingFailure: false }

/**
 * The libp2p options of a node on the lab's internet (relay, DHT bootstrap peer) reachable at
 * `addrs` (TCP, and QUIC v1 with our transport, src/quic). The addresses are also announced: a
 * listen address is not "verified" (no AutoNAT here), and libp2p leaves unverified public
 * addresses out of identify, reservations and DHT answers. Our QUIC transport has one socket:
 * QUIC addresses of both IP families are served by one dual-stack socket on `::`.
 */
export function publicNodeOptions(addrs: string[]) {
  const quic = addrs.filter((addr) => isQuicAddress(multiaddr(addr)))
  const port = quic[0] === undefined ? undefined : /\/udp\/(\d+)\//.exec(quic[0])?.[1]
  const listen =
    quic.length > 1 ? [...addrs.filter((a) => !quic.includes(a)), `/ip6/::/udp/${port}/quic-v1`] : addrs
  return {
    addresses: { listen, announce: addrs },
    transports: [tcp(), ...(quic.length > 0 ? [quicTransport()] : [])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: LAB_CONNECTION_LIMITS,
    connectionMonitor: LAB_CONNECTION_MONITOR,
  }
}
