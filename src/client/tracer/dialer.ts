// Hole-punch dials below `libp2p.dial`. The dial queue would not do: it dials one address of a
// peer after the other, and it drops the `initiator: false` option, so both sides of a TCP
// simultaneous open would run Noise as initiator (docs/PROTOCOL.md, "js-libp2p behaviours the code works around"). Here every address
// is dialled at once through the host's own transport (so a fixed source port configured on
// it applies, see fixed-port.ts), and the raw connection is upgraded in the role we choose.
import type {
  ClearableSignal,
  Connection,
  ConnectionEncrypter,
  MultiaddrConnection,
  PeerId,
  StreamMuxerFactory,
  Transport,
  Upgrader,
  UpgraderOptions,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isQuicAddress } from '../../quic/multiaddr.js'
import { DialTimeoutError, NoTransportError } from './errors.js'
import type { DialRole } from './events.js'

/** The components a hole-punch dial needs. */
export interface DialComponents {
  transportManager: { dialTransportForMultiaddr(ma: Multiaddr): Transport | undefined }
  upgrader: Upgrader
}

/** Socket options for one dial; the TCP transport passes them on to `net.connect`. */
export interface DialSocketOptions {
  localPort?: number
  localAddress?: string
}

export interface DialOptions {
  role: DialRole
  signal: AbortSignal
  /** Milliseconds one address may take, connect and upgrade together. */
  timeout: number
  socket?: DialSocketOptions
  /** Called with each raw connection before its upgrade (to recognise our connections later). */
  onRawConnection?: (maConn: MultiaddrConnection) => void
}

/**
 * Upgrades outbound raw connections as the security and muxer responder. libp2p's upgrader
 * already runs multistream-select and Noise as the responder when `initiator` is false, but
 * yamux takes its role (client: odd stream ids) from the raw connection's direction, which the
 * Noise stream copies: so the raw connection is relabelled 'inbound' first. The resulting
 * Connection's direction is 'inbound' as well, although we dialled it (the trace's
 * `direct-connection` event says `ownDial`).
 */
class RoleUpgrader implements Upgrader {
  constructor(
    private readonly upgrader: Upgrader,
    private readonly role: DialRole,
    private readonly onRawConnection?: (maConn: MultiaddrConnection) => void,
  ) {}

  upgradeOutbound(maConn: MultiaddrConnection, opts: UpgraderOptions): Promise<Connection> {
    this.onRawConnection?.(maConn)
    if (this.role === 'initiator') return this.upgrader.upgradeOutbound(maConn, opts)
    maConn.direction = 'inbound'
    return this.upgrader.upgradeOutbound(maConn, { ...opts, initiator: false })
  }

  upgradeInbound(maConn: MultiaddrConnection, opts: UpgraderOptions): Promise<void> {
    return this.upgrader.upgradeInbound(maConn, opts)
  }

  createInboundAbortSignal(signal: AbortSignal): ClearableSignal {
    return this.upgrader.createInboundAbortSignal(signal)
  }

  getStreamMuxers(): Map<string, StreamMuxerFactory> {
    return this.upgrader.getStreamMuxers()
  }

  getConnectionEncrypters(): Map<string, ConnectionEncrypter> {
    return this.upgrader.getConnectionEncrypters()
  }
}

/**
 * Dials one address of `remotePeer` (its `/p2p` part is added so that the handshake checks the
 * peer id) and upgrades the connection in `options.role`. Settles by `options.timeout` or the
 * signal whatever the transport does: a transport that ignores its signal cannot hold the
 * attempt, and a connection that still comes up afterwards is closed.
 */
export async function dialAddr(
  components: DialComponents,
  addr: Multiaddr,
  remotePeer: PeerId,
  options: DialOptions,
): Promise<Connection> {
  const transport = components.transportManager.dialTransportForMultiaddr(addr)
  if (transport === undefined) throw new NoTransportError(`no transport can dial ${addr.toString()}`)
  const target = withPeerId(addr, remotePeer)

  // The signal must not abort once the dial is done: @libp2p/tcp hands it on to net.connect(),
  // which destroys the socket when it aborts, however long after. So the transport gets a
  // signal of its own, which follows ours only while the dial is pending.
  options.signal.throwIfAborted()
  const controller = new AbortController()
  const follow = () => controller.abort(options.signal.reason)
  options.signal.addEventListener('abort', follow, { once: true })
  const timer = setTimeout(
    () => controller.abort(new DialTimeoutError(`dial did not finish within ${options.timeout} ms`)),
    options.timeout,
  )
  const dial = transport.dial(target, {
    ...options.socket,
    signal: controller.signal,
    upgrader: new RoleUpgrader(components.upgrader, dialRole(addr, options.role), options.onRawConnection),
  })
  try {
    return await raceAbort(dial, controller.signal)
  } catch (err) {
    // The transport may still come up with a connection after we stopped waiting.
    dial.then(
      (late) => late.abort(new Error('hole-punch dial no longer wanted')),
      () => undefined,
    )
    throw err
  } finally {
    clearTimeout(timer)
    options.signal.removeEventListener('abort', follow)
  }
}

/** The result of dialling several addresses at once. */
export interface DialRace {
  connection: Connection
  addr: Multiaddr
}

/**
 * Dials every address at once; the first connection wins and the other dials are aborted (a
 * connection that loses the race narrowly is closed). Settles only once every dial did, so
 * that each dial's end has been reported; rejects with an AggregateError of the dial errors
 * when none connects. Losing dials end right away, since `dialAddr` does not wait for a
 * transport to honour its signal.
 */
export async function dialFirst(
  components: DialComponents,
  addrs: readonly Multiaddr[],
  remotePeer: PeerId,
  options: DialOptions & {
    onDialStart?: (addr: Multiaddr) => void
    onDialEnd?: (addr: Multiaddr, result: { connection: Connection } | { error: unknown }) => void
  },
): Promise<DialRace> {
  const losers = new AbortController()
  const signal = AbortSignal.any([options.signal, losers.signal])
  let winner: DialRace | undefined
  const errors: unknown[] = []
  await Promise.all(
    addrs.map(async (addr) => {
      options.onDialStart?.(addr)
      try {
        const connection = await dialAddr(components, addr, remotePeer, { ...options, signal })
        if (winner !== undefined) {
          connection.abort(new Error('another hole-punch dial connected first'))
          throw new Error('another hole-punch dial connected first')
        }
        winner = { connection, addr }
        options.onDialEnd?.(addr, { connection })
        losers.abort(new Error('another hole-punch dial connected first'))
      } catch (err) {
        errors.push(err)
        options.onDialEnd?.(addr, { error: err })
      }
    }),
  )
  if (winner === undefined) throw new AggregateError(errors, 'every hole-punch dial failed')
  return winner
}

/**
 * The role a dial of `addr` takes. QUIC has no simultaneous open and brings its own security
 * and muxer: whoever dials is the QUIC client, and relabelling the connection would only
 * confuse the muxer; so QUIC dials are always the initiator.
 */
export function dialRole(addr: Multiaddr, role: DialRole): DialRole {
  return isQuicAddress(addr) ? 'initiator' : role
}

function withPeerId(addr: Multiaddr, peer: PeerId): Multiaddr {
  const last = addr.getComponents().at(-1)
  return last?.name === 'p2p' ? addr : addr.encapsulate(`/p2p/${peer.toString()}`)
}

/** `promise`, or the signal's reason as soon as it aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
