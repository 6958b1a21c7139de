// The honeypot's libp2p node: a Kademlia DHT server on TCP and QUIC v1 (our
// transport, src/quic; the same port number) with identify (and identify push, so that peers
// can tell us about changes), ping (kad-dht needs it to check routing table contacts) and
// bounded connections.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, type IdentifyPush, identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import {
  type KadDHTComponents,
  kadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  type SingleKadDHT,
} from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { IDENTIFY_MAX_MESSAGE_BYTES } from '../lib/peer-limits.js'
import type { QuicTransportFactory } from '../quic/availability.js'
import { DHT_PROTOCOL } from './constants.js'

export type HoneypotServices = {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  dht: SingleKadDHT
  listenAddrs: ListenAddrs
}

export interface HoneypotNodeInit {
  privateKey: PrivateKey
  /** identify's agent version, `punchr/honeypot/<version>`. */
  agentVersion: string
  /** IPv4 or IPv6 address to listen on. */
  listenHost: string
  port: number
  /** An IPv6 address to listen on as well (TCP only). */
  listenHost6?: string
  /** QUIC on the same port as TCP; undefined where QUIC cannot run (TCP only). */
  quic: QuicTransportFactory | undefined
  /** Extra addresses to advertise (a public address the host itself does not see, behind 1:1 NAT). */
  announce: readonly Multiaddr[]
  maxConnections: number
  /** Inbound connections per second from one IP before libp2p refuses more. */
  inboundRatePerIp: number
  /** Inbound connections in their Noise/yamux upgrade at once. */
  maxPendingInbound: number
  /**
   * Keep private and loopback addresses in the DHT (tests on 127.0.0.1). The public DHT drops
   * them: a DHT peer behind a private address is no use to anyone else.
   */
  privateDht?: boolean
}

export async function createHoneypotNode(init: HoneypotNodeInit): Promise<Libp2p<HoneypotServices>> {
  const ipVersion = init.listenHost.includes(':') ? 'ip6' : 'ip4'
  return createLibp2p({
    start: false,
    privateKey: init.privateKey,
    nodeInfo: { userAgent: init.agentVersion },
    addresses: {
      listen: [
        `/${ipVersion}/${init.listenHost}/tcp/${init.port}`,
        // Our QUIC transport has one socket (src/quic): IPv6 gets TCP only.
        ...(init.listenHost6 === undefined ? [] : [`/ip6/${init.listenHost6}/tcp/${init.port}`]),
        ...(init.quic === undefined ? [] : [`/${ipVersion}/${init.listenHost}/udp/${init.port}/quic-v1`]),
      ],
      appendAnnounce: init.announce.map(String),
    },
    transports: [tcp(), ...(init.quic === undefined ? [] : [init.quic()])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: init.maxConnections,
      inboundConnectionThreshold: init.inboundRatePerIp,
      maxIncomingPendingConnections: init.maxPendingInbound,
    },
    services: {
      identify: identify({ maxMessageSize: IDENTIFY_MAX_MESSAGE_BYTES }),
      identifyPush: identifyPush({ maxMessageSize: IDENTIFY_MAX_MESSAGE_BYTES }),
      ping: ping(),
      // The factory's declared type hides the routing table, whose size the metrics report.
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: init.privateDht === true ? passthroughMapper : removePrivateAddressesMapper,
      }) as (components: KadDHTComponents) => SingleKadDHT,
      listenAddrs: (components: { addressManager: AddressManagerView }) => listenAddrs(components),
    },
  })
}

/** The part of libp2p's AddressManager that listenAddrs() uses. */
interface AddressManagerView {
  getAddressesWithMetadata(): { multiaddr: Multiaddr; verified: boolean; type: string }[]
  confirmObservedAddr(addr: Multiaddr, options?: { type?: 'transport' }): void
}

export interface ListenAddrs {
  /** Marks every listen address as dialable; returns how many were not yet. Call after start. */
  confirm(): number
}

/**
 * js-libp2p advertises a public listen address only once AutoNAT confirmed that others can
 * dial it. A honeypot is a server on a public address by design, and until a DHT peer learns
 * a public address of ours from identify it cannot keep us in its routing table (the public
 * DHT drops private addresses). So the listen addresses are confirmed at start, without
 * AutoNAT, which can close a connection it used for a dial-back (docs/PROTOCOL.md, "js-libp2p
 * behaviours the code works around").
 */
function listenAddrs(components: { addressManager: AddressManagerView }): ListenAddrs {
  return {
    confirm() {
      const unverified = components.addressManager
        .getAddressesWithMetadata()
        .filter((a) => a.type === 'transport' && !a.verified)
      for (const a of unverified)
        components.addressManager.confirmObservedAddr(a.multiaddr, { type: 'transport' })
      return unverified.length
    },
  }
}
