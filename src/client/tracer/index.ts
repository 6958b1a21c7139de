/**
 * @packageDocumentation
 *
 * A traced `/libp2p/dcutr` responder for the measuring side A (the side that dialled the remote
 * B through a relay; B initiates DCUtR, docs/PROTOCOL.md, "The round"). It replaces @libp2p/dcutr on the client host
 * (do not configure both: the protocol can have one handler) and differs from it where
 * docs/PROTOCOL.md, "js-libp2p behaviours the code works around", says it must:
 *
 * - CONNECT is answered with our *observed* addresses (identify on direct connections), not
 *   with AutoNAT-verified ones, which a NATed host never has;
 * - on SYNC every remote address is dialled at once, below the dial queue, through the host's
 *   transports: TCP from its fixed source port (see `fixedPortDialOpts`), upgraded in the
 *   security and muxer role `role` picks; QUIC from its listening socket (src/quic), where the
 *   dialler is the QUIC client and the remote sprays UDP (DCUtR spec);
 * - a direct connection the remote makes to us counts as success too;
 * - every step is an event, kept per remote (`trace(peer)`), from which the pure functions of
 *   outcome.ts compute attempt and round outcomes; every wait has its own deadline.
 *
 * @example
 *
 * ```TypeScript
 * const node = await createLibp2p({
 *   transports: [tcp({ dialOpts: fixedPortDialOpts(4002) }), circuitRelayTransport()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   services: { identify: identify(), tracer: dcutrTracer() },
 * })
 * node.services.tracer.watch(remote)
 * await node.dial(relayedAddr)
 * await node.services.tracer.waitForEnd(remote)
 * const { outcome: result, attempts } = outcome(node.services.tracer.trace(remote), facts)
 * ```
 */
import type {
  ComponentLogger,
  Connection,
  PeerId,
  Stream,
  StreamHandlerOptions,
  Upgrader,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Clock } from './clock.js'
import type { DialComponents, DialSocketOptions } from './dialer.js'
import type { DialRole } from './events.js'
import { DcutrTracer } from './tracer.js'

export { type Clock, nowNs, nsToSeconds } from './clock.js'
export * from './constants.js'
export type { DialSocketOptions } from './dialer.js'
export * from './errors.js'
export type * from './events.js'
export { fixedPortDialOpts } from './fixed-port.js'
export { FramedStream } from './framed-stream.js'
export { withoutPeerId } from './observed-addrs.js'
export * from './outcome.js'
export { decodeHolePunch, encodeFrame, encodeHolePunch, type HolePunch, HolePunchType } from './pb.js'
export { DcutrTracer, type WaitForEndOptions, type WaitForEndResult } from './tracer.js'

export interface DcutrTracerInit {
  /**
   * The addresses we send in CONNECT, in place of the observed ones (tests, or a host that
   * knows its public address from elsewhere, e.g. a UPnP mapping).
   *
   * @default identify's observations of our address on direct connections, most recent first;
   * else the address manager's observed addresses; else its addresses (relay addresses never)
   */
  observedAddrs?: () => Multiaddr[]
  /**
   * Addresses our CONNECT offers before the observed ones: the gateway's mappings of our
   * listening ports (UPnP, NAT-PMP), which reach us whatever the NAT does to other flows.
   *
   * @default none
   */
  mappedAddrs?: () => Multiaddr[]
  /**
   * Picks the addresses to dial from the remote's CONNECT (e.g. to apply a protocol filter).
   *
   * @default every address that is not a relay address and that one of our transports can dial
   */
  dialAddrs?: (remoteAddrs: Multiaddr[], remotePeer: PeerId) => Multiaddr[]
  /**
   * Picks which of our addresses our CONNECT to `remotePeer` offers (e.g. to apply a protocol
   * filter to the remote's dials too).
   *
   * @default all of them
   */
  offerAddrs?: (ownAddrs: Multiaddr[], remotePeer: PeerId) => Multiaddr[]
  /**
   * Our role in the security and muxer handshakes of a hole-punch dial, or a function that
   * picks it per remote and attempt (from 1), e.g. from its agent version. The remote, as
   * DCUtR initiator, takes the other role, and implementations differ: js-libp2p B ends up
   * initiator (its dial queue drops `initiator: false`), so A responds (docs/PROTOCOL.md, "js-libp2p behaviours the code works around");
   * rust-libp2p B and go-libp2p B respond, so A initiates — go-libp2p since v0.48 except on its
   * last attempt (docs/INTEROP.md; `roleFor` in src/client/host.ts).
   *
   * @default 'responder'
   */
  role?: DialRole | ((remotePeer: PeerId, attempt: number) => DialRole)
  /**
   * Socket options for each hole-punch dial, on top of the transport's own `dialOpts`. Leave
   * unset when the transport is configured with `fixedPortDialOpts`: the relay dial and the
   * punch must share the port.
   *
   * @default {}
   */
  dialOptions?: DialSocketOptions
  /**
   * Milliseconds from an attempt's start to its terminal event.
   *
   * @default 30_000
   */
  attemptTimeout?: number
  /**
   * Milliseconds `waitForEnd` waits for the remote to open its (next) dcutr stream.
   *
   * @default 30_000
   */
  streamOpenTimeout?: number
  /**
   * Milliseconds one hole-punch dial (connect and upgrade) may take.
   *
   * @default 5_000
   */
  dialTimeout?: number
  /**
   * Milliseconds after an attempt's end during which a direct connection still counts for it.
   *
   * @default 5_000
   */
  lateConnectionWindow?: number
  /**
   * Simultaneous inbound dcutr streams per connection.
   *
   * @default 4
   */
  maxInboundStreams?: number
  /**
   * Largest message in bytes, length prefix excluded.
   *
   * @default 4096
   */
  maxMessageSize?: number
  /**
   * Remotes whose traces are kept; the oldest idle trace goes first.
   *
   * @default 256
   */
  maxTraces?: number
  /**
   * Events kept per remote; later events are dispatched but not kept.
   *
   * @default 1024
   */
  maxEventsPerTrace?: number
  /**
   * Attempts one remote may start in one round; its further dcutr streams are reset.
   * @default MAX_ATTEMPTS_PER_ROUND (10)
   */
  maxAttemptsPerRound?: number
  /**
   * Event timestamps (Unix ns).
   *
   * @default wall-clock anchored `process.hrtime`
   */
  clock?: Clock
}

/** The libp2p components the tracer uses (structural, so that tests can pass stubs). */
export interface DcutrTracerComponents extends DialComponents {
  registrar: {
    handle(
      protocol: string,
      handler: (stream: Stream, connection: Connection) => void,
      options?: StreamHandlerOptions,
    ): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  addressManager: { getObservedAddrs(): Multiaddr[]; getAddresses(): Multiaddr[] }
  /** libp2p's event bus: `peer:identify` for observed addresses, `connection:open` for direct connections. */
  events: EventTarget
  upgrader: Upgrader
  logger: ComponentLogger
}

/** The traced DCUtR responder as a libp2p service: `services: { tracer: dcutrTracer() }`. */
export function dcutrTracer(init: DcutrTracerInit = {}): (components: DcutrTracerComponents) => DcutrTracer {
  return (components) => new DcutrTracer(components, init)
}
