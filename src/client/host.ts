// One measuring host: a libp2p node with its own identity and ports whose every TCP dial (the
// relay's included) leaves from one fixed port, whose every QUIC dial leaves from its QUIC
// listening socket (src/quic), and whose `/libp2p/dcutr` is our traced responder
// (docs/PROTOCOL.md, "js-libp2p behaviours the code works around"). Deliberately missing: @libp2p/dcutr (the
// protocol has one handler, the tracer's), AutoNAT (it cut a NATed peer's only relay link in
// the lab), and public addresses in identify (a remote seeing one dials it first, and that
// failed SYN's NAT entry spoiled the punch after it). Also off: libp2p's connection monitor,
// whose pings on every connection would mix with the measurement and may abort connections.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { type Identify, identify } from '@libp2p/identify'
import type { IdentifyResult, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { classifyMultiaddr, isRelayAddr } from '../lib/multiaddr.js'
import { IDENTIFY_MAX_MESSAGE_BYTES } from '../lib/peer-limits.js'
import { loadQuicTransport } from '../quic/availability.js'
import { isQuicAddress } from '../quic/multiaddr.js'
import {
  ADDRESS_DIAL_TIMEOUT_MS,
  BOOTSTRAP_DIAL_TIMEOUT_MS,
  OBSERVED_ADDR_TIMEOUT_MS,
  RELAYED_CONNECT_TIMEOUT_MS,
} from './constants.js'
import { retryResets } from './dial-retry.js'
import { familyOf, type IpFamily } from './ip-families.js'
import { MappingObservations, type NatBehaviour } from './nat-behaviour.js'
import type { PortMapping } from './port-mapping.js'
import { isDialableWith, isTcpDialable, PunchAddrFilter, type PunchTransport } from './punch-addrs.js'
import {
  type DcutrTracer,
  type DcutrTracerInit,
  type DialRole,
  dcutrTracer,
  fixedPortDialOpts,
  withoutPeerId,
} from './tracer/index.js'

const CODE_P2P = 421
const WILDCARDS = new Set(['0.0.0.0', '::'])

export type HostServices = { identify: Identify; ping: Ping; tracer: DcutrTracer }

export interface MeasuringHostInit {
  privateKey: PrivateKey
  /** identify's agent version (and what Register announces). */
  agentVersion: string
  /**
   * Listen address: a wildcard (0.0.0.0 or ::) listens on the wildcard of each of `ipFamilies`;
   * a specific address on itself only, and becomes the dials' source address too.
   */
  listenHost: string
  /** The IP families to listen and punch on. @default the family of `listenHost` */
  ipFamilies?: readonly IpFamily[]
  listenPort: number
  /** The fixed source port of every TCP dial; must differ from `listenPort`. */
  dialPort: number
  /**
   * The transports to measure with. @default both. QUIC listens (and so dials) on
   * `quicPort`, by default a free port the OS picks.
   */
  transports?: readonly PunchTransport[]
  quicPort?: number
  /**
   * Tracer options on top of ours (tests: `observedAddrs` on loopback, shorter timeouts).
   * `dialAddrs` and `role` are ours and cannot be replaced.
   */
  tracer?: Omit<DcutrTracerInit, 'dialAddrs' | 'role'>
  /** Punch the remote's private and loopback addresses too (testbeds). @default false */
  punchPrivateAddrs?: boolean
  /** The port mappings the client holds on its gateway (port-mapping.ts): this host's are offered in CONNECT. */
  portMappings?: () => readonly PortMapping[]
  /** The server's and bootstrap peers' endpoints, never punch targets (punch-targets.ts). */
  infrastructure?: Iterable<{ ip: string; port?: number }>
}

export interface BootstrapOptions {
  /** Dialling one bootstrap peer. @default BOOTSTRAP_DIAL_TIMEOUT_MS */
  dialTimeout?: number
  /** Waiting for identify to tell us our address. @default OBSERVED_ADDR_TIMEOUT_MS */
  observeTimeout?: number
}

export interface BootstrapResult {
  connected: Multiaddr[]
  failed: { addr: Multiaddr; error: string }[]
  /** Dials a bootstrap peer reset and that were tried again. */
  resets: number
  /** Our address as the bootstrap peers saw it (empty when identify told nothing in time). */
  observed: Multiaddr[]
}

export interface PeerInfo {
  agentVersion: string
  protocols: string[]
}

export class MeasuringHost {
  /** The protocol filter of the running round, applied to the remote's punch addresses. */
  readonly punchAddrs: PunchAddrFilter
  readonly dialPort: number
  /** The transports this host measures with. */
  readonly transports: ReadonlySet<PunchTransport>
  /** The IP families it listens and punches on. */
  readonly families: ReadonlySet<IpFamily>
  private readonly agents: Map<string, string>
  private readonly mappings: MappingObservations
  /** The bootstrap peers: the observers whose view of our address we trust. */
  private readonly observers: Set<string>
  /** The ports others may dial us on: TCP listening, and the QUIC socket's once it listens. */
  readonly listeningPorts: () => ListeningPorts
  /** The gateway's mappings of this host's listening ports (port-mapping.ts), for its reports. */
  readonly portMappings: () => PortMapping[]
  /** What the last bootstrap connected to, for waking from a rest. */
  private lastBootstrap: { peers: readonly Multiaddr[]; options: BootstrapOptions } | undefined
  private isResting = false

  private constructor(
    readonly node: Libp2p<HostServices>,
    parts: {
      punchAddrs: PunchAddrFilter
      agents: Map<string, string>
      mappings: MappingObservations
      observers: Set<string>
      dialPort: number
      ports: () => ListeningPorts
      ownMappings: () => PortMapping[]
      transports: ReadonlySet<PunchTransport>
      families: ReadonlySet<IpFamily>
    },
  ) {
    this.punchAddrs = parts.punchAddrs
    this.agents = parts.agents
    this.mappings = parts.mappings
    this.observers = parts.observers
    this.dialPort = parts.dialPort
    this.listeningPorts = parts.ports
    this.portMappings = parts.ownMappings
    this.transports = parts.transports
    this.families = parts.families
  }

  static async create(init: MeasuringHostInit): Promise<MeasuringHost> {
    if (init.listenPort !== 0 && init.listenPort === init.dialPort) {
      throw new RangeError(`listen port and dial port must differ (both ${init.dialPort})`)
    }
    const transports = new Set<PunchTransport>(init.transports ?? ['tcp', 'quic'])
    if (transports.size === 0) throw new RangeError('a measuring host needs at least one transport')
    const punchAddrs = new PunchAddrFilter({
      transports,
      allowPrivate: init.punchPrivateAddrs ?? false,
      infrastructure: init.infrastructure ?? [],
    })
    // Agent versions from identify, read synchronously when a punch picks its role.
    const agents = new Map<string, string>()
    const wildcard = WILDCARDS.has(init.listenHost)
    const families = new Set(init.ipFamilies ?? [familyOf(init.listenHost)])
    if (families.size === 0) throw new RangeError('a measuring host needs at least one IP family')
    if (!wildcard && (families.size > 1 || !families.has(familyOf(init.listenHost))))
      throw new RangeError(
        `listen address ${init.listenHost} is ${familyOf(init.listenHost)} only; listen on a wildcard (0.0.0.0) to measure ${[...families].join(' and ')}`,
      )
    const localAddress = wildcard ? undefined : init.listenHost
    const listen = listenAddrs(init.listenHost, families, transports, init.listenPort, init.quicPort ?? 0)
    const quic = transports.has('quic') ? (await quicTransportOrThrow())() : undefined
    const ports = () => listeningPorts(transports.has('tcp') ? init.listenPort : undefined, quic?.socket.port)
    const ownMappings = () => mappingsOf(init.portMappings?.() ?? [], ports())
    const node = await createLibp2p({
      privateKey: init.privateKey,
      nodeInfo: { userAgent: init.agentVersion },
      addresses: {
        listen,
        announceFilter: (addrs) => addrs.filter((addr) => !classifyMultiaddr(addr).isPublic),
      },
      transports: [
        ...(transports.has('tcp') ? [tcp({ dialOpts: fixedPortDialOpts(init.dialPort, localAddress) })] : []),
        ...(quic === undefined ? [] : [quic]),
        circuitRelayTransport(),
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false },
      connectionManager: {
        addressDialTimeout: ADDRESS_DIAL_TIMEOUT_MS,
        dialTimeout: RELAYED_CONNECT_TIMEOUT_MS,
      },
      services: {
        identify: identify({ maxMessageSize: IDENTIFY_MAX_MESSAGE_BYTES }),
        ping: ping(),
        tracer: dcutrTracer({
          ...init.tracer,
          mappedAddrs: () => mappedAddrs(ownMappings()),
          dialAddrs: punchAddrs.select,
          offerAddrs: punchAddrs.selectOwn,
          role: (peer, attempt) => roleFor(agents.get(peer.toString()), attempt),
        }),
      },
    })
    const observers = new Set<string>()
    const mappings = new MappingObservations(observers)
    node.addEventListener('peer:identify', (evt: CustomEvent<IdentifyResult>) => {
      if (evt.detail.agentVersion !== undefined)
        agents.set(evt.detail.peerId.toString(), evt.detail.agentVersion)
      mappings.observe(evt.detail.observedAddr, evt.detail.connection)
    })
    node.addEventListener('connection:close', (evt) => mappings.forget(evt.detail.id))
    return new MeasuringHost(node, {
      punchAddrs,
      agents,
      mappings,
      observers,
      dialPort: init.dialPort,
      ports,
      ownMappings,
      transports,
      families,
    })
  }

  get peerId(): PeerId {
    return this.node.peerId
  }

  get tracer(): DcutrTracer {
    return this.node.services.tracer
  }

  /**
   * Connects to the bootstrap peers, once per path (IP family and transport: TCP from the fixed
   * port, QUIC from the listening socket), and waits until identify told us our observed
   * address on each path that connected: the addresses our CONNECT carries, i.e. the NAT
   * mappings the punch reuses. Throws when no bootstrap peer could be reached.
   */
  async bootstrap(
    peers: readonly Multiaddr[],
    options: BootstrapOptions & { signal?: AbortSignal } = {},
  ): Promise<BootstrapResult> {
    this.lastBootstrap = {
      peers,
      options: {
        ...(options.dialTimeout === undefined ? {} : { dialTimeout: options.dialTimeout }),
        ...(options.observeTimeout === undefined ? {} : { observeTimeout: options.observeTimeout }),
      },
    }
    this.isResting = false
    const result: BootstrapResult = { connected: [], failed: [], resets: 0, observed: [] }
    const dial = (target: Multiaddr | Multiaddr[], force: boolean) =>
      this.node.dial(target, {
        force,
        signal: AbortSignal.any([
          AbortSignal.timeout(options.dialTimeout ?? BOOTSTRAP_DIAL_TIMEOUT_MS),
          ...(options.signal === undefined ? [] : [options.signal]),
        ]),
      })
    const dialable = peers.filter((addr) => this.canDial(addr))
    if (dialable.length === 0 && peers.length > 0) {
      throw new Error(
        `host ${this.peerId.toString()} has no bootstrap address it can dial with its transports (${[...this.transports].join(', ')}): ` +
          `${peers.map((a) => a.toString()).join(', ')}; give bootstrap addresses of these transports or enable another transport`,
      )
    }
    // Trusted from the start: identify on a bootstrap connection may report before its dial returns.
    for (const addr of peers) {
      const id = addr.getComponents().findLast((c) => c.code === CODE_P2P)?.value
      if (id !== undefined) this.observers.add(id)
    }
    const reached = new Map<string, PeerId>()
    await Promise.all(
      dialable.map(async (addr) => {
        try {
          const connection = await retryResets(
            () => dial(addr, false),
            () => result.resets++,
            options.signal,
          )
          result.connected.push(addr)
          reached.set(connection.remotePeer.toString(), connection.remotePeer)
          this.observers.add(connection.remotePeer.toString())
        } catch (err) {
          result.failed.push({ addr, error: err instanceof Error ? err.message : String(err) })
        }
      }),
    )
    if (result.connected.length === 0 && peers.length > 0) {
      const why = result.failed.map((f) => `${f.addr.toString()}: ${f.error}`).join('; ')
      throw new Error(`host ${this.peerId.toString()} reached none of the bootstrap peers (${why})`)
    }
    // One connection per path: identify on each tells us our address on that path. The dial
    // queue joins dials of one peer into one connection, hence a forced dial for each path that
    // has none yet, to the addresses given or learnt from identify.
    await Promise.all(
      [...reached.values()].map(async (peer) => {
        for (const path of this.paths()) {
          if (this.openPaths(peer).has(path)) continue
          const known = await this.node.peerStore.get(peer).then(
            (stored) => stored.addresses.map((a) => a.multiaddr.encapsulate(`/p2p/${peer.toString()}`)),
            () => [],
          )
          const given = peers.filter(
            (a) => a.getComponents().findLast((c) => c.code === CODE_P2P)?.value === peer.toString(),
          )
          const candidates = [...given, ...known].filter(
            (a) => pathOf(a) === path && isDialableWith(a, this.transports),
          )
          if (candidates.length === 0) continue
          await dial(candidates, true).catch(() => undefined)
        }
      }),
    )
    const connectedPaths = new Set([...reached.values()].flatMap((peer) => [...this.openPaths(peer)]))
    result.observed = await this.waitForObservedAddr(
      options.observeTimeout ?? OBSERVED_ADDR_TIMEOUT_MS,
      options.signal,
      connectedPaths,
    )
    return result
  }

  /** True from rest() until a wake() that learnt our observed address again. */
  get resting(): boolean {
    return this.isResting
  }

  /**
   * Closes every connection of the host and forgets its observed addresses: while the client
   * has nothing to measure, their keep-alives and the peers' pings would keep the process busy
   * for nothing (docs/FOOTPRINT.md, "Resting hosts"). Connections are aborted: TCP ones are
   * reset, which leaves no TIME_WAIT on the fixed dial port that the next bootstrap dials the
   * same peers from. wake() brings the host back.
   */
  rest(): void {
    if (this.isResting) return
    this.isResting = true
    const resting = new Error('host resting: nothing to measure')
    for (const connection of this.node.getConnections()) connection.abort(resting)
    this.tracer.forgetObservedAddrs()
  }

  /**
   * Readies a resting host for a round: bootstraps again, with the peers and options of its last
   * bootstrap, so that the next CONNECT offers NAT mappings as they are now. Undefined when the
   * host was not resting. A host that learnt no observed address rests on; bootstrap's errors
   * are thrown.
   */
  async wake(signal?: AbortSignal): Promise<BootstrapResult | undefined> {
    if (!this.isResting) return undefined
    const last = this.lastBootstrap
    if (last === undefined) throw new Error(`host ${this.peerId.toString()} rests but never bootstrapped`)
    let result: BootstrapResult
    try {
      result = await this.bootstrap(last.peers, {
        ...last.options,
        ...(signal === undefined ? {} : { signal }),
      })
    } catch (err) {
      this.rest()
      throw err
    }
    if (result.observed.length === 0) this.rest()
    return result
  }

  /**
   * False for an address only a transport this host lacks could dial; names to resolve
   * (`/dnsaddr`) stay, libp2p resolves them.
   */
  private canDial(addr: Multiaddr): boolean {
    if (isQuicAddress(addr)) return this.transports.has('quic')
    if (isTcpDialable(addr)) return this.transports.has('tcp')
    return true
  }

  /** The paths (family/transport) this host measures on. */
  private paths(): Path[] {
    return [...this.families].flatMap((family) => [...this.transports].map((t): Path => `${family}/${t}`))
  }

  /** The paths of our open direct connections to `peer`. */
  private openPaths(peer: PeerId): Set<Path> {
    return new Set(
      this.node
        .getConnections(peer)
        .filter((c) => c.status === 'open' && !isRelayAddr(c.remoteAddr))
        .flatMap((c) => pathOf(c.remoteAddr) ?? []),
    )
  }

  /**
   * The host's NAT mapping behaviour on each path it measures, as the bootstrap peers see it
   * now (nat-behaviour.ts).
   */
  natBehaviours(): NatBehaviour[] {
    return this.mappings.classify(this.paths(), (path) =>
      // TCP dials leave from the fixed dial port, QUIC ones from the listening socket.
      path.endsWith('/tcp') ? this.dialPort : this.listeningPorts().udp,
    )
  }

  /** The IP families we have an observed address of, i.e. can offer in a CONNECT. */
  observedFamilies(): Set<IpFamily> {
    return new Set(this.tracer.observedAddrs().flatMap((a) => pathOf(a)?.split('/')[0] ?? []) as IpFamily[])
  }

  /**
   * Our observed addresses, waiting up to `timeoutMs` until there is one for each of `paths`
   * (`ip4/tcp`, `ip6/quic`, …), or for any one when none are named.
   */
  async waitForObservedAddr(
    timeoutMs: number,
    signal?: AbortSignal,
    paths: ReadonlySet<Path> = new Set(),
  ): Promise<Multiaddr[]> {
    const deadline = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      ...(signal === undefined ? [] : [signal]),
    ])
    const missing = () => {
      const observed = this.tracer.observedAddrs()
      if (paths.size === 0) return observed.length === 0
      const seen = new Set(observed.flatMap((a) => pathOf(a) ?? []))
      return [...paths].some((p) => !seen.has(p))
    }
    while (missing() && !deadline.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.node.removeEventListener('peer:identify', done)
          deadline.removeEventListener('abort', done)
          resolve()
        }
        this.node.addEventListener('peer:identify', done)
        deadline.addEventListener('abort', done, { once: true })
      })
    }
    return this.tracer.observedAddrs()
  }

  /** Our own addresses for the report: what we listen on and how others see us, without /p2p. */
  listenAddrs(): Multiaddr[] {
    const seen = new Map<string, Multiaddr>()
    for (const addr of [...this.node.getMultiaddrs(), ...this.tracer.observedAddrs()]) {
      if (isRelayAddr(addr)) continue
      const bare = withoutPeerId(addr)
      seen.set(bare.toString(), bare)
    }
    return [...seen.values()]
  }

  /** The agent version and protocols identify told us for `peer` ('' and [] when unknown). */
  async peerInfo(peer: PeerId): Promise<PeerInfo> {
    try {
      const stored = await this.node.peerStore.get(peer)
      const agent = stored.metadata.get('AgentVersion')
      return {
        agentVersion:
          agent === undefined ? (this.agents.get(peer.toString()) ?? '') : new TextDecoder().decode(agent),
        protocols: [...stored.protocols].sort(),
      }
    } catch {
      return { agentVersion: this.agents.get(peer.toString()) ?? '', protocols: [] }
    }
  }

  /**
   * Forgets `peer`: closes every connection to it and drops what the peer store knows, so
   * that nothing of one round (a direct connection, a learnt address) carries into the next.
   */
  async prune(peer: PeerId): Promise<void> {
    await this.node.hangUp(peer).catch(() => undefined)
    await this.node.peerStore.delete(peer).catch(() => undefined)
    this.agents.delete(peer.toString())
  }

  async stop(): Promise<void> {
    await this.node.stop()
  }
}

/** The ports others may dial a host on. */
export interface ListeningPorts {
  tcp?: number
  udp?: number
}

function listeningPorts(tcp: number | undefined, udp: number | undefined): ListeningPorts {
  return { ...(tcp === undefined ? {} : { tcp }), ...(udp === undefined ? {} : { udp }) }
}

/** The mappings of `ports`: the others are other hosts' (one mapper serves a client's hosts). */
function mappingsOf(all: readonly PortMapping[], ports: ListeningPorts): PortMapping[] {
  return all.filter((m) => (m.protocol === 'tcp' ? ports.tcp : ports.udp) === m.internalPort)
}

/** Where a mapping reaches us: TCP, or QUIC v1 on the mapped UDP port. */
function mappedAddrs(mappings: readonly PortMapping[]): Multiaddr[] {
  return mappings.map((m) =>
    multiaddr(`/ip4/${m.addr}/${m.protocol}/${m.externalPort}${m.protocol === 'udp' ? '/quic-v1' : ''}`),
  )
}

/** One way out of a host: an IP family and a transport. */
export type Path = `${IpFamily}/${PunchTransport}`

/** The path of an `/ip4|ip6/…` address, for telling observations apart; undefined for others. */
export function pathOf(addr: Multiaddr): Path | undefined {
  const first = addr.getComponents()[0]?.name
  if (first !== 'ip4' && first !== 'ip6') return undefined
  return `${first}/${isQuicAddress(addr) ? 'quic' : 'tcp'}`
}

/**
 * What a host listens on: TCP on each family (`listenHost` itself, or each family's wildcard),
 * and one QUIC socket, dual-stack (`::`) when it measures both families: our QUIC transport
 * dials from its one listening socket (src/quic).
 */
export function listenAddrs(
  listenHost: string,
  families: ReadonlySet<IpFamily>,
  transports: ReadonlySet<PunchTransport>,
  tcpPort: number,
  quicPort: number,
): string[] {
  const hostOf = (family: IpFamily) =>
    WILDCARDS.has(listenHost) ? (family === 'ip4' ? '0.0.0.0' : '::') : listenHost
  const tcp = transports.has('tcp') ? [...families].map((f) => `/${f}/${hostOf(f)}/tcp/${tcpPort}`) : []
  const quicFamily: IpFamily = families.has('ip6') ? 'ip6' : 'ip4'
  const quic = transports.has('quic') ? [`/${quicFamily}/${hostOf(quicFamily)}/udp/${quicPort}/quic-v1`] : []
  return [...tcp, ...quic]
}

/**
 * Our handshake role in a punch, by the remote's agent version and the attempt (from 1). The
 * remote B, as DCUtR initiator, takes the other role, and implementations disagree on it:
 * - js-libp2p B runs the handshakes as initiator (its dial queue drops `initiator: false`), so
 *   we respond;
 * - rust-libp2p B follows the spec and responds, so we initiate;
 * - go-libp2p B responds too (its TCP transport upgrades a hole-punch dial as the security
 *   server); since v0.48 it switches to initiator on its last (third) attempt, for peers of
 *   go-libp2p before v0.41. So we initiate, and respond on every third attempt. Measured in the
 *   lab (docs/INTEROP.md): as responder we got go-libp2p v0.49 only on attempt 3 and v0.47
 *   never; with this rule both on attempt 1.
 * An agent we cannot place (no identify yet, custom names) gets the go-libp2p rule: most of
 * the network runs go-libp2p (Kubo).
 */
export function roleFor(agentVersion: string | undefined, attempt: number): DialRole {
  if (agentVersion !== undefined && /js-libp2p/i.test(agentVersion)) return 'responder'
  if (agentVersion !== undefined && /rust-libp2p/i.test(agentVersion)) return 'initiator'
  return attempt % 3 === 0 ? 'responder' : 'initiator'
}

/** Callers drop QUIC from a host's transports first where it cannot load (PunchrClient.create). */
async function quicTransportOrThrow() {
  const factory = await loadQuicTransport()
  if (factory instanceof Error) throw factory
  return factory
}
