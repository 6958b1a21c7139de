// A js-libp2p transport for /udp/<port>/quic-v1 over @matrixai/quic (quiche + BoringSSL),
// whose dials leave from the listening socket so that QUIC hole punching works. See
// docs/adr/0004-quic-stack.md for why this stack and what it cannot do.
import {
  type ComponentLogger,
  type Connection,
  type CreateListenerOptions,
  type DialTransportOptions,
  type Listener,
  type Logger,
  type PeerId,
  type PrivateKey,
  serviceCapabilities,
  type Transport,
  transportSymbol,
} from '@libp2p/interface'
import { QUICClient } from '@matrixai/quic'
import type { Multiaddr } from '@multiformats/multiaddr'
import { QuicMultiaddrConnection } from './connection.js'
import { QuicEndpoint, type QuicSocketHandle } from './endpoint.js'
import { QuicListener } from './listener.js'
import { formatQuicAddress, isQuicAddress, parseQuicAddress, type QuicAddress } from './multiaddr.js'
import { QuicMuxerFactory } from './muxer.js'
import { nativeLogger } from './native-logger.js'
import {
  CLIENT_CRYPTO,
  certificateCheck,
  DEFAULT_CONNECTION_OPTIONS,
  type QuicConnectionOptions,
  quicConfig,
} from './quic-config.js'
import { codeToReason, reasonToCode } from './stream.js'
import { CertificateError, generateCertificate, type TlsCredentials } from './tls-certificate.js'

export type QuicTransportInit = Partial<QuicConnectionOptions>

/**
 * The protocol of the first-stream check. Nobody serves it: the peer's "not supported" is the
 * answer we want, and no handler or per-protocol stream limit of the peer is touched (a ping
 * stream would count against ping's limit of one outbound stream).
 */
const ROUND_TRIP_PROTOCOL = '/punchr/quic-round-trip/1.0.0'

export interface QuicComponents {
  privateKey: PrivateKey
  logger: ComponentLogger
}

export interface QuicTransportFactory {
  (components: QuicComponents): Transport
  /** The transport's UDP socket: its port and raw datagrams from it (DCUtR punch packets). */
  readonly socket: QuicSocketHandle
}

/**
 * The transport for `createLibp2p({ transports: [quicTransport()] })`. It listens on one
 * address (`/ip4/0.0.0.0/udp/<port>/quic-v1`, or `/ip6/::/udp/<port>/quic-v1` for a dual-stack
 * socket) and dials only once it listens, from that socket.
 */
export function quicTransport(init: QuicTransportInit = {}): QuicTransportFactory {
  const endpoint = new QuicEndpoint()
  const options = { ...DEFAULT_CONNECTION_OPTIONS, ...init }
  const factory = (components: QuicComponents) => new QuicTransport(components, endpoint, options)
  return Object.assign(factory, { socket: endpoint })
}

class QuicTransport implements Transport {
  readonly [Symbol.toStringTag] = '@punchr/quic'
  readonly [transportSymbol] = true
  readonly [serviceCapabilities] = ['@libp2p/transport']
  readonly #components: QuicComponents
  readonly #endpoint: QuicEndpoint
  readonly #options: QuicConnectionOptions
  readonly #log: Logger
  #credentials: Promise<TlsCredentials> | undefined

  constructor(components: QuicComponents, endpoint: QuicEndpoint, options: QuicConnectionOptions) {
    this.#components = components
    this.#endpoint = endpoint
    this.#options = options
    this.#log = components.logger.forComponent('punchr:quic:dial')
  }

  readonly listenFilter = (addrs: Multiaddr[]): Multiaddr[] => addrs.filter(isQuicAddress)

  // Without a bound socket there is nothing to dial from: libp2p then picks another transport.
  readonly dialFilter = (addrs: Multiaddr[]): Multiaddr[] =>
    addrs.filter((ma) => isQuicAddress(ma) && this.#endpoint.reaches(parseQuicAddress(ma).family))

  createListener(options: CreateListenerOptions): Listener {
    return new QuicListener({
      endpoint: this.#endpoint,
      credentials: () => this.#tlsCredentials(),
      options: this.#options,
      upgrader: options.upgrader,
      logger: this.#components.logger,
    })
  }

  async dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    options.signal.throwIfAborted()
    const target = parseQuicAddress(ma)
    const { client, remotePeer, localPort } = await this.#handshake(target, options.signal)
    const maConn = new QuicMultiaddrConnection({
      connection: client.connection,
      remoteAddr: formatQuicAddress(client.host, client.port),
      direction: 'outbound',
      log: this.#components.logger.forComponent('punchr:quic:connection'),
      close: () => client.destroy({ isApp: true, force: true }),
    })
    this.#log('connected to %p at %a from port %d', remotePeer, maConn.remoteAddr, localPort)
    let connection: Connection
    try {
      connection = await options.upgrader.upgradeOutbound(maConn, {
        skipEncryption: true,
        skipProtection: true,
        remotePeer,
        muxerFactory: new QuicMuxerFactory(client.connection),
        signal: options.signal,
        onProgress: options.onProgress,
      })
    } catch (err) {
      maConn.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
    await confirmRoundTrip(connection, options.signal)
    return connection
  }

  /**
   * A QUIC connection from our listening socket to the target, whose peer passed the
   * certificate check (and is the one the address names, if it names one).
   */
  async #handshake(
    target: QuicAddress,
    signal: AbortSignal,
  ): Promise<{ client: QUICClient; remotePeer: PeerId; localPort: number }> {
    const socket = this.#endpoint.socket
    if (socket === undefined) throw new Error('cannot dial: the QUIC transport does not listen yet')
    let verdict: PeerId | CertificateError | undefined
    const check = certificateCheck(target.peerId, (result) => {
      verdict = result
    })
    let client: QUICClient
    try {
      client = await untilAborted(
        QUICClient.createQUICClient(
          {
            host: target.host,
            port: target.port,
            socket,
            crypto: CLIENT_CRYPTO,
            config: quicConfig(await this.#tlsCredentials(), this.#options, check),
            reasonToCode,
            codeToReason,
            logger: nativeLogger(this.#components.logger.forComponent('punchr:quic:native')),
          },
          { signal },
        ),
        signal,
      )
    } catch (err) {
      // A refused certificate says more than the TLS alert it caused.
      throw verdict instanceof CertificateError ? verdict : err
    }
    // @matrixai/quic resolves only after the check passed; this keeps it honest.
    if (verdict === undefined || verdict instanceof CertificateError) {
      await client.destroy({ force: true })
      throw new Error('the QUIC handshake completed without a verified peer certificate')
    }
    return { client, remotePeer: verdict, localPort: socket.port }
  }

  #tlsCredentials(): Promise<TlsCredentials> {
    this.#credentials ??= generateCertificate(this.#components.privateKey)
    return this.#credentials
  }
}

/**
 * Resolves once the peer answered on a first stream. In TLS 1.3 a QUIC client completes its
 * handshake before the server has checked the client's certificate, so a peer that refuses
 * ours closes the connection only after we would have counted it. A multistream-select answer
 * ("not supported", for a protocol nobody serves) proves the peer took us. Anything else
 * closes the connection and fails the dial.
 */
async function confirmRoundTrip(connection: Connection, signal: AbortSignal): Promise<void> {
  try {
    const stream = await connection.newStream(ROUND_TRIP_PROTOCOL, {
      signal,
      negotiateFully: true,
      runOnLimitedConnection: true,
    })
    await stream.close({ signal })
  } catch (err) {
    if (err instanceof Error && err.name === 'UnsupportedProtocolError') return
    const reason = err instanceof Error ? err : new Error(String(err))
    connection.abort(reason)
    throw new Error(`the QUIC peer did not answer on a first stream: ${reason.message}`, { cause: reason })
  }
}

/**
 * Rejects as soon as the signal aborts. @matrixai/quic stops the handshake on the same signal
 * but rejects only once the connection has drained, which can take seconds; a client that
 * completes in that gap is closed.
 */
async function untilAborted(pending: Promise<QUICClient>, signal: AbortSignal): Promise<QUICClient> {
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
  })
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([pending, aborted])
  } catch (err) {
    if (signal.aborted) {
      pending.then(
        (client) => client.destroy({ force: true }),
        () => {},
      )
    }
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
