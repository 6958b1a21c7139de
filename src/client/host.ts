// One measuring host: a libp2p node with its own identity and ports whose every TCP dial (the
// relay's included) leaves from one fixed port, and whose `/libp2p/dcutr` is our traced
// responder (FINDINGS-js-libp2p.md, "What works"). Deliberately missing: @libp2p/dcutr (the
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
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { classifyMultiaddr, isRelayAddr } from '../lib/multiaddr.js'
import { BOOTSTRAP_DIAL_TIMEOUT, OBSERVED_ADDR_TIMEOUT } from './constants.js'
import { PunchAddrFilter } from './punch-addrs.js'
import {
  type DcutrTracer,
  type DcutrTracerInit,
  type DialRole,
  dcutrTracer,
  fixedPortDialOpts,
} from './tracer/index.js'

const CODE_P2P = 421
const WILDCARDS = new Set(['0.0.0.0', '::'])

export type HostServices = { identify: Identify; ping: Ping; tracer: DcutrTracer }

export interface MeasuringHostInit {
  privateKey: PrivateKey
  /** identify's agent version (and what Register announces). */
  agentVersion: string
  /** Listen address, e.g. 0.0.0.0. A specific address also becomes the dials' source address. */
  listenHost: string
  listenPort: number
  /** The fixed source port of every TCP dial; must differ from `listenPort`. */
  dialPort: number
  /**
   * Tracer options on top of ours (tests: `observedAddrs` on loopback, shorter timeouts).
   * `dialAddrs` and `role` are ours and cannot be replaced.
   */
  tracer?: Omit<DcutrTracerInit, 'dialAddrs' | 'role'>
}

export interface BootstrapResult {
  connected: Multiaddr[]
  failed: { addr: Multiaddr; error: string }[]
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
  private readonly agents: Map<string, string>

  private constructor(
    readonly node: Libp2p<HostServices>,
    punchAddrs: PunchAddrFilter,
    agents: Map<string, string>,
    dialPort: number,
  ) {
    this.punchAddrs = punchAddrs
    this.agents = agents
    this.dialPort = dialPort
  }

  static async create(init: MeasuringHostInit): Promise<MeasuringHost> {
    if (init.listenPort !== 0 && init.listenPort === init.dialPort) {
      throw new RangeError(`listen port and dial port must differ (both ${init.dialPort})`)
    }
    const punchAddrs = new PunchAddrFilter()
    // Agent versions from identify, read synchronously when a punch picks its role.
    const agents = new Map<string, string>()
    const localAddress = WILDCARDS.has(init.listenHost) ? undefined : init.listenHost
    const ipVersion = init.listenHost.includes(':') ? 'ip6' : 'ip4'
    const node = await createLibp2p({
      privateKey: init.privateKey,
      nodeInfo: { userAgent: init.agentVersion },
      addresses: {
        listen: [`/${ipVersion}/${init.listenHost}/tcp/${init.listenPort}`],
        announceFilter: (addrs) => addrs.filter((addr) => !classifyMultiaddr(addr).isPublic),
      },
      transports: [
        tcp({ dialOpts: fixedPortDialOpts(init.dialPort, localAddress) }),
        circuitRelayTransport(),
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false },
      services: {
        identify: identify(),
        ping: ping(),
        tracer: dcutrTracer({
          ...init.tracer,
          dialAddrs: punchAddrs.select,
          role: (peer, attempt) => roleFor(agents.get(peer.toString()), attempt),
        }),
      },
    })
    node.addEventListener('peer:identify', (evt: CustomEvent<IdentifyResult>) => {
      if (evt.detail.agentVersion !== undefined)
        agents.set(evt.detail.peerId.toString(), evt.detail.agentVersion)
    })
    return new MeasuringHost(node, punchAddrs, agents, init.dialPort)
  }

  get peerId(): PeerId {
    return this.node.peerId
  }

  get tracer(): DcutrTracer {
    return this.node.services.tracer
  }

  /**
   * Connects to the bootstrap peers (from the fixed port) and waits until identify told us our
   * observed address: the address our CONNECT carries, i.e. the NAT mapping the punch reuses.
   * Throws when no bootstrap peer could be reached.
   */
  async bootstrap(
    peers: readonly Multiaddr[],
    options: { dialTimeout?: number; observeTimeout?: number; signal?: AbortSignal } = {},
  ): Promise<BootstrapResult> {
    const result: BootstrapResult = { connected: [], failed: [], observed: [] }
    await Promise.all(
      peers.map(async (addr) => {
        const signal = AbortSignal.any([
          AbortSignal.timeout(options.dialTimeout ?? BOOTSTRAP_DIAL_TIMEOUT),
          ...(options.signal === undefined ? [] : [options.signal]),
        ])
        try {
          await this.node.dial(addr, { signal })
          result.connected.push(addr)
        } catch (err) {
          result.failed.push({ addr, error: err instanceof Error ? err.message : String(err) })
        }
      }),
    )
    if (result.connected.length === 0 && peers.length > 0) {
      const why = result.failed.map((f) => `${f.addr.toString()}: ${f.error}`).join('; ')
      throw new Error(`host ${this.peerId.toString()} reached none of the bootstrap peers (${why})`)
    }
    result.observed = await this.waitForObservedAddr(
      options.observeTimeout ?? OBSERVED_ADDR_TIMEOUT,
      options.signal,
    )
    return result
  }

  /** Our observed addresses, waiting up to `timeoutMs` for the first one. */
  async waitForObservedAddr(timeoutMs: number, signal?: AbortSignal): Promise<Multiaddr[]> {
    const deadline = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      ...(signal === undefined ? [] : [signal]),
    ])
    while (this.tracer.observedAddrs().length === 0 && !deadline.aborted) {
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
      const bare = addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
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
