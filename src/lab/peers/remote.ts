// A NATed, DCUtR-capable "remote" B for the lab: stock @libp2p/dcutr (B is the DCUtR
// initiator: it opens /libp2p/dcutr on the relayed connection a client makes to it), a
// reservation on one relay, identify, ping and a Kademlia DHT client; no AutoNAT, which can
// close the very relay link it tested (docs/PROTOCOL.md, "js-libp2p behaviours the code works around"). Prints `{"ready": true,
// "peerId", "relayAddrs", …}` once the reservation is held, the public address is known and,
// with --dht-bootstrap, the DHT was joined.
//
//   node remote.js --relay /ip4/11.0.0.2/tcp/4001/p2p/12D3… --dial-port 4100 [--announce <ma>]…
//                  [--dht-bootstrap /ip4/11.0.0.4/tcp/4001/p2p/12D3…]…
//                  [--relay-quic /ip4/11.0.0.2/udp/4001/p2p/12D3… [--quic-port 0]]
//
// With --relay-quic it also speaks QUIC v1 (our transport, src/quic: dials leave from the
// listening socket, so stock dcutr's punch dial reaches the client from the mapped port): it
// listens on --quic-port and connects to the relay over QUIC as well, so that identify tells
// it its public QUIC address, which its CONNECT then carries beside the TCP one.
//
// Like a NATed go-libp2p node (AutoRelay), it advertises only its relay addresses in identify
// — which is what lets a honeypot recognise it as reachable through relays only — while its
// DCUtR CONNECT carries the observed public address. Joining the DHT happens after the
// reservation, as a lookup of its own key: that connects it to the DHT servers closest to it,
// the punchr honeypot among them, which so learn its relay addresses.
//
// Two things make stock dcutr punch through a port-preserving NAT (docs/PROTOCOL.md, "js-libp2p behaviours the code works around"):
// - Every TCP dial leaves from the fixed port --dial-port (P_B), the one to the relay and the
//   punch alike, so the relay observes P_B, the NAT maps P_B to itself, and the punch reuses
//   that mapping. P_B must differ from the listen port (Node cannot connect from a port it
//   listens on).
// - Stock dcutr's CONNECT carries `addressManager.getAddresses()`, i.e. verified addresses
//   only, which a NATed peer without AutoNAT never has. So dcutr gets an address manager of
//   its own (`dcutrComponents`): the public address plus the relay addresses. The public address is
//   what the relay's identify observed (router WAN address : P_B on a cone NAT, a random port
//   on a symmetric one) — what any libp2p peer learns about itself, so the lab needs to know
//   nothing about the NAT — unless `--announce` gives it explicitly (tests of what a remote
//   advertises). With `--no-dcutr` the remote never opens /libp2p/dcutr (NO_STREAM cases).
//
// `--behaviour <name>` makes it misbehave (src/lab/behaviours.ts): the DCUtR-breaking ones swap
// stock dcutr for hostile-dcutr.ts; `nul-agent` puts NUL and 10 kB of text into its agent
// version and protocol IDs; `foreign-addrs` adds the `--foreign-addr` addresses (other lab
// nodes) and private, loopback, multicast and port-0 ones to its CONNECT; `slow-relay` needs
// nothing here (its router delays its relay traffic).
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import type { Connection } from '@libp2p/interface'
import { kadDHT } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { type Path, pathOf } from '../../client/host.js'
import { fixedPortDialOpts } from '../../client/tracer/index.js'
import { isRelayAddr } from '../../lib/multiaddr.js'
import { isQuicAddress } from '../../quic/multiaddr.js'
import { quicTransport } from '../../quic/transport.js'
import { REMOTE_BEHAVIOURS, type RemoteBehaviour } from '../behaviours.js'
import { type HostileInitiatorBehaviour, hostileDcutr } from './hostile-dcutr.js'
import { loadOrCreateKey } from './identity.js'
import { pinoComponentLogger } from './libp2p-logger.js'
import { aborted, intOption, parseOptions, printLine, required, runProgram, UsageError } from './program.js'
import { LAB_CONNECTION_LIMITS, LAB_CONNECTION_MONITOR, until, withoutPeerId } from './util.js'

const USAGE =
  'remote --relay <relay multiaddr with /p2p/> | --relay6 <its IPv6 one> --dial-port <port> [--listen-ip 0.0.0.0] ' +
  '[--listen-port 0] [--announce <multiaddr>]… [--dht-bootstrap <multiaddr with /p2p/>]… [--key <file>] ' +
  '[--relay-quic <relay QUIC multiaddr with /p2p/> [--quic-port 0]] [--no-dcutr] [--ready-timeout-ms 10000] ' +
  `[--behaviour ${REMOTE_BEHAVIOURS.join('|')}] [--foreign-addr <multiaddr>]… ` +
  "[--relay6 <the relay's IPv6 TCP multiaddr with /p2p/>] [--relay-quic6 <its IPv6 QUIC multiaddr>]"

/** Behaviours played by hostile-dcutr.ts instead of stock dcutr. */
const HOSTILE_INITIATOR: ReadonlySet<RemoteBehaviour> = new Set<HostileInitiatorBehaviour>([
  'silent-dcutr',
  'garbage-dcutr',
  'stream-flood',
  'never-sync',
  'dies-mid-punch',
])

/**
 * A `slow-relay` remote's timeouts for upgrading a relayed connection and for its DCUtR
 * exchange, where js-libp2p's (10 s, 5 s) are too short for a link of a second each way: the
 * relay's STOP exchange, Noise and the muxer negotiation take ~12 s over it (measured). A
 * go-libp2p peer allows 15 s for the handshake and a minute for the hole-punch stream.
 */
const SLOW_LINK_TIMEOUT_MS = 30_000

/** How long a `dies-mid-punch` remote stays away before it starts again. */
const DEAD_FOR_MS = 3_000

/** 10 kB of text with NUL characters in it (`nul-agent`). */
const NUL_TEXT = `nul\0agent/${'x'.repeat(10_000)}\0end`

/** What a `foreign-addrs` remote adds to its CONNECT besides `--foreign-addr`: none of it is the remote's. */
const FOREIGN_ADDRS = [
  '/ip4/10.1.0.2/tcp/4001',
  '/ip4/192.168.1.1/tcp/80',
  '/ip4/127.0.0.1/tcp/22',
  '/ip4/169.254.169.254/tcp/80',
  '/ip4/224.0.0.251/udp/5353/quic-v1',
  '/ip4/11.0.0.250/tcp/0',
  '/dns4/example.org/tcp/443',
  '/ip6/::1/tcp/4001',
]

/** The Kademlia protocol of the public IPFS DHT, which the honeypot serves. */
const DHT_PROTOCOL = '/ipfs/kad/1.0.0'

runProgram('lab-remote', async ({ log, signal, onCleanup }) => {
  const opts = parseOptions(USAGE, {
    relay: { type: 'string' },
    'dial-port': { type: 'string' },
    'listen-ip': { type: 'string' },
    'listen-port': { type: 'string' },
    announce: { type: 'string', multiple: true },
    'dht-bootstrap': { type: 'string', multiple: true },
    key: { type: 'string' },
    'no-dcutr': { type: 'boolean' },
    'ready-timeout-ms': { type: 'string' },
    'relay-quic': { type: 'string' },
    'quic-port': { type: 'string' },
    behaviour: { type: 'string' },
    'foreign-addr': { type: 'string', multiple: true },
    relay6: { type: 'string' },
    'relay-quic6': { type: 'string' },
  })
  const behaviour = opts.behaviour as RemoteBehaviour | undefined
  if (behaviour !== undefined && !REMOTE_BEHAVIOURS.includes(behaviour))
    throw new UsageError(`--behaviour must be one of ${REMOTE_BEHAVIOURS.join(', ')}\nusage: ${USAGE}`)
  const foreign = [
    ...(opts['foreign-addr'] ?? []),
    ...(behaviour === 'foreign-addrs' ? FOREIGN_ADDRS : []),
  ].map((a) => multiaddr(a))
  // IPv6 (a dual-stack home): connections to the relay over IPv6 tell the remote its public
  // IPv6 addresses, which its CONNECT then carries beside the IPv4 ones. In an IPv6-only home
  // --relay6 alone is the relay: the reservation is made over IPv6.
  const relay6 = opts.relay6 === undefined ? undefined : multiaddr(opts.relay6)
  const relayQuic6 = opts['relay-quic6'] === undefined ? undefined : multiaddr(opts['relay-quic6'])
  const relay4 = opts.relay === undefined ? undefined : multiaddr(opts.relay)
  const relay = relay4 ?? relay6 ?? multiaddr(required(opts.relay, 'relay', USAGE))
  const relayPeer = relay.getComponents().find((c) => c.name === 'p2p')?.value
  if (relayPeer === undefined)
    throw new UsageError(`--relay must end in /p2p/<relay peer id>\nusage: ${USAGE}`)
  const dialPort = intOption(opts['dial-port'], 'dial-port', 0, 1, 65535)
  const listenPort = intOption(opts['listen-port'], 'listen-port', 0, 0, 65535)
  if (listenPort === dialPort) throw new UsageError('--listen-port must differ from --dial-port')
  const readyTimeout = intOption(opts['ready-timeout-ms'], 'ready-timeout-ms', 10_000, 1, 600_000)
  const withDcutr = opts['no-dcutr'] !== true
  const dhtBootstrap = (opts['dht-bootstrap'] ?? []).map((a) => multiaddr(a))
  const relayQuic = opts['relay-quic'] === undefined ? undefined : multiaddr(opts['relay-quic'])
  if (relayQuic !== undefined && !isQuicAddress(relayQuic))
    throw new UsageError(`--relay-quic must be a /udp/<port>/quic-v1 address\nusage: ${USAGE}`)
  const quicPort = intOption(opts['quic-port'], 'quic-port', 0, 0, 65535)
  const quic = relayQuic !== undefined || relayQuic6 !== undefined

  const privateKey = await loadOrCreateKey(opts.key)
  const peerId = peerIdFromPrivateKey(privateKey)
  const explicit = (opts.announce ?? []).map((a) => withoutPeerId(multiaddr(a)))
  // Learnt from the relay's identify, one per transport (a NAT maps TCP and UDP apart).
  const observed = new Map<Path | undefined, Multiaddr>()
  const publicAddrs = (): Multiaddr[] => (explicit.length > 0 ? explicit : [...observed.values()])
  const own = (addr: Multiaddr) => addr.encapsulate(`/p2p/${peerId.toString()}`)

  const dcutrService = () => {
    if (!withDcutr) return {}
    if (behaviour !== undefined && HOSTILE_INITIATOR.has(behaviour)) {
      const hostile = hostileDcutr({
        behaviour: behaviour as HostileInitiatorBehaviour,
        addrs: () => publicAddrs().map(own),
        die: () => void dieAndComeBack(),
      })
      return { dcutr: hostile }
    }
    const init = behaviour === 'slow-relay' ? { timeout: SLOW_LINK_TIMEOUT_MS } : {}
    return { dcutr: (components: DcutrComponents) => dcutr(init)(dcutrComponents(components)) }
  }

  const node = await createLibp2p({
    start: false,
    privateKey,
    ...(behaviour === 'nul-agent' ? { nodeInfo: { userAgent: NUL_TEXT } } : {}),
    addresses: {
      listen: [
        ...(relay4 === undefined ? [] : [`/ip4/${opts['listen-ip'] ?? '0.0.0.0'}/tcp/${listenPort}`]),
        ...(relay6 === undefined ? [] : [`/ip6/::/tcp/${listenPort}`]),
        // One QUIC socket (src/quic), dual-stack when the remote has IPv6.
        ...(!quic
          ? []
          : relayQuic6 !== undefined
            ? [`/ip6/::/udp/${quicPort}/quic-v1`]
            : [`/ip4/${opts['listen-ip'] ?? '0.0.0.0'}/udp/${quicPort}/quic-v1`]),
        `${relay.toString()}/p2p-circuit`,
      ],
      // What identify (and so the honeypot) sees: the relay addresses only.
      announceFilter: (addrs) => addrs.filter((a) => isRelayAddr(a)),
    },
    transports: [
      tcp({ dialOpts: fixedPortDialOpts(dialPort) }),
      ...(quic ? [quicTransport()] : []),
      circuitRelayTransport(),
    ],
    // Relayed connections all come from the relay's address; with libp2p's default limit every
    // sixth round of a back-to-back campaign ended NO_CONNECTION (seen in the lab).
    connectionManager:
      behaviour === 'slow-relay'
        ? { ...LAB_CONNECTION_LIMITS, inboundUpgradeTimeout: SLOW_LINK_TIMEOUT_MS }
        : LAB_CONNECTION_LIMITS,
    connectionMonitor: LAB_CONNECTION_MONITOR,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: true }),
      ...dcutrService(),
    },
    logger: pinoComponentLogger(log, ['libp2p:dcutr']),
  })

  const describe = (c: Connection) => ({
    peer: c.remotePeer.toString(),
    remoteAddr: c.remoteAddr.toString(),
    direction: c.direction,
    relayed: isRelayAddr(c.remoteAddr),
    limited: c.limits !== undefined,
  })
  node.addEventListener('connection:open', (e) => {
    const c = e.detail
    // A direct connection to a peer that is not the relay is what a hole punch produces.
    const punched = !isRelayAddr(c.remoteAddr) && c.remotePeer.toString() !== relayPeer
    log.info({ ...describe(c), punched }, punched ? 'direct connection' : 'connection open')
  })
  node.addEventListener('connection:close', (e) => log.info(describe(e.detail), 'connection closed'))
  node.addEventListener('peer:identify', (e) => {
    const { peerId: peer, observedAddr, connection, agentVersion } = e.detail
    log.info(
      {
        peer: peer.toString(),
        observedAddr: observedAddr?.toString(),
        via: connection.remoteAddr.toString(),
        agentVersion,
      },
      'identified',
    )
    if (explicit.length > 0 || observedAddr === undefined || isRelayAddr(connection.remoteAddr)) return
    if (peer.toString() !== relayPeer || isRelayAddr(observedAddr)) return
    const addr = withoutPeerId(observedAddr)
    observed.set(pathOf(addr), addr)
    log.info({ addr: addr.toString() }, 'public address learned from the relay')
  })

  /**
   * The components dcutr is built with, but an address manager whose getAddresses() is the
   * public address plus the relay addresses — evaluated on every call, so an address learned
   * later is in the next CONNECT.
   */
  function dcutrComponents(components: DcutrComponents): DcutrComponents {
    const addressManager = new Proxy(components.addressManager, {
      get: (target, key, receiver) =>
        key === 'getAddresses'
          ? () => [...publicAddrs().map(own), ...foreign, ...target.getAddresses()]
          : Reflect.get(target, key, receiver),
    })
    return new Proxy(components, {
      get: (target, key, receiver) =>
        key === 'addressManager' ? addressManager : Reflect.get(target, key, receiver),
    })
  }

  onCleanup(() => node.stop())
  await node.start()
  if (behaviour === 'nul-agent') {
    // Protocol IDs a peer chose: identify lists every handled one.
    const nothing = () => undefined
    await node.handle(`/lab/${NUL_TEXT}`, nothing, { runOnLimitedConnection: true })
    await node.handle('/lab/nul\0/1.0.0', nothing, { runOnLimitedConnection: true })
  }
  const relayAddrs = () => node.getMultiaddrs().filter((a) => isRelayAddr(a))
  // More connections to the relay, over QUIC and IPv6: identify on each tells us our public
  // address on that path.
  const morePaths = [relayQuic, relay4 === undefined ? undefined : relay6, relayQuic6].filter(
    (a): a is Multiaddr => a !== undefined,
  )
  for (const path of morePaths) {
    await node.dial(path, {
      force: true,
      signal: AbortSignal.any([signal, AbortSignal.timeout(readyTimeout)]),
    })
  }
  // One public address per path learnt from the relay, unless given explicitly.
  const wanted = explicit.length === 0 ? 1 + morePaths.length : 1
  await until(
    'the relay reservation and the public address',
    () => relayAddrs().length > 0 && publicAddrs().length >= wanted,
    readyTimeout,
    signal,
  )
  const dhtPeers = await joinDht(dhtBootstrap, readyTimeout, signal)
  const ready = {
    ready: true,
    peerId: peerId.toString(),
    relayAddrs: relayAddrs().map(String),
    publicAddrs: publicAddrs().map(String),
    publicAddrSource: explicit.length > 0 ? 'announce' : 'identify',
    dialPort,
    dcutr: withDcutr,
    ...(behaviour === undefined ? {} : { behaviour }),
    dhtPeers,
  }
  printLine(ready)
  log.info(ready, 'remote ready')
  await aborted(signal)

  /**
   * `dies-mid-punch`: every connection dropped at once, as when a process crashes, and the node
   * back after DEAD_FOR_MS with the same identity (its relay reservation taken anew).
   */
  async function dieAndComeBack(): Promise<void> {
    log.info('dying mid-punch')
    for (const connection of node.getConnections()) connection.abort(new Error('dies-mid-punch'))
    await node.stop()
    await new Promise((resolve) => setTimeout(resolve, DEAD_FOR_MS))
    if (signal.aborted) return
    await node.start()
    log.info('back after dying')
  }

  /**
   * Dials the bootstrap peers, then looks up its own key (what a DHT client does to fill its
   * routing table); returns the peers the lookup reported. Nothing to do without bootstrap peers.
   */
  async function joinDht(bootstrap: Multiaddr[], timeoutMs: number, abort: AbortSignal): Promise<string[]> {
    if (bootstrap.length === 0) return []
    const options = { signal: AbortSignal.any([abort, AbortSignal.timeout(timeoutMs)]) }
    await Promise.all(bootstrap.map((addr) => node.dial(addr, options)))
    const found = new Set<string>()
    for await (const event of node.services.dht.getClosestPeers(peerId.toMultihash().bytes, options)) {
      if (event.name === 'FINAL_PEER') found.add(event.peer.id.toString())
    }
    log.info({ peers: [...found] }, 'joined the DHT')
    return [...found]
  }
})

type DcutrComponents = Parameters<ReturnType<typeof dcutr>>[0]
