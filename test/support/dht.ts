// Real js-libp2p nodes on 127.0.0.1 for the honeypot tests: DHT servers that form a small
// DHT, visitors that connect to the honeypot advertising what a test needs, and a honeypot
// tuned for loopback (private addresses kept in the DHT, no per-IP rate limit, fast flushes).
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { dcutr } from '@libp2p/dcutr'
import { identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { type KadDHTComponents, kadDHT, passthroughMapper, type SingleKadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Database } from '../../src/db/database.js'
import { DHT_PROTOCOL } from '../../src/honeypot/constants.js'
import { Honeypot, type HoneypotConfig, type HoneypotTuning } from '../../src/honeypot/honeypot.js'
import type { Logger } from '../../src/lib/logger.js'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

/** A DHT server as public DHT peers run it, but keeping loopback addresses. */
export async function dhtServer() {
  return createLibp2p({
    addresses: { listen: [LOOPBACK] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }) as (
        components: KadDHTComponents,
      ) => SingleKadDHT,
    },
  })
}

export interface VisitorOptions {
  /** Speak /libp2p/dcutr (the stock service). @default true */
  dcutr?: boolean
  /** The addresses identify advertises (and only these). */
  announce: readonly string[]
  agentVersion?: string
  privateKey?: PrivateKey
  /** Answer identify without running it on each new connection (the flood's dialers). */
  quiet?: boolean
}

/** A peer that dials the honeypot; it does not listen, it only advertises `announce`. */
export async function visitor(options: VisitorOptions): Promise<Libp2p> {
  return createLibp2p({
    privateKey: options.privateKey ?? (await generateKeyPair('Ed25519')),
    ...(options.agentVersion === undefined ? {} : { nodeInfo: { userAgent: options.agentVersion } }),
    addresses: { announce: [...options.announce] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // No monitor pings: the flood test counts connections, not keep-alives.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify({ runOnConnectionOpen: options.quiet !== true }),
      identifyPush: identifyPush(),
      ...(options.dcutr === false ? {} : { dcutr: dcutr() }),
    },
  })
}

/** A relay address as a NATed peer with a reservation on relay `relayId` advertises it. */
export function relayAddr(relayId: string, n = 1): string {
  return `/ip4/11.0.0.${n}/tcp/4001/p2p/${relayId}/p2p-circuit`
}

/** A honeypot on 127.0.0.1 (ephemeral ports), started. */
export async function startLoopbackHoneypot(
  db: Database,
  config: Partial<HoneypotConfig> = {},
  tuning: HoneypotTuning = {},
  log?: Logger,
): Promise<Honeypot> {
  const honeypot = await Honeypot.create(
    {
      privateKey: await generateKeyPair('Ed25519'),
      version: 'test',
      listenHost: '127.0.0.1',
      port: 0,
      httpPort: 0,
      announce: [],
      bootstrapPeers: [],
      walkInterval: 60_000,
      maxConnections: 1000,
      ...config,
    },
    {
      db,
      geo: () => ({ country: null, asn: null }),
      ...(log === undefined ? {} : { log }),
      tuning: {
        privateDht: true,
        inboundRatePerIp: 1_000_000,
        maxPendingInbound: 256,
        writeInterval: 50,
        lookupTimeout: 10_000,
        bootstrapTimeout: 10_000,
        ...tuning,
      },
    },
  )
  await honeypot.start()
  return honeypot
}

/** The honeypot's first listen address (with /p2p/<its peer ID>). */
export function honeypotAddr(honeypot: Honeypot): Multiaddr {
  return honeypot.listenAddrs[0]!
}
