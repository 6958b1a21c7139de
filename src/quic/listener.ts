import {
  type ComponentLogger,
  type Listener,
  type ListenerEvents,
  type Logger,
  TypedEventEmitter,
  type Upgrader,
} from '@libp2p/interface'
import { getThinWaistAddresses } from '@libp2p/utils'
import { events, type QUICConnection, QUICServer } from '@matrixai/quic'
import type { Multiaddr } from '@multiformats/multiaddr'
import { QuicMultiaddrConnection } from './connection.js'
import type { QuicEndpoint } from './endpoint.js'
import { formatQuicAddress, parseQuicAddress } from './multiaddr.js'
import { QuicMuxerFactory } from './muxer.js'
import { nativeLogger } from './native-logger.js'
import { certificateCheck, type QuicConnectionOptions, quicConfig, serverCrypto } from './quic-config.js'
import { codeToReason, reasonToCode } from './stream.js'
import { type TlsCredentials, verifyPeerCertificate } from './tls-certificate.js'

export interface QuicListenerInit {
  endpoint: QuicEndpoint
  credentials: () => Promise<TlsCredentials>
  options: QuicConnectionOptions
  upgrader: Upgrader
  logger: ComponentLogger
}

/**
 * Binds the transport's socket to the listen address and accepts connections on it. Inbound
 * QUIC connections arrive authenticated: @matrixai/quic hands them over only after our
 * certificate check passed.
 */
export class QuicListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  readonly #init: QuicListenerInit
  readonly #log: Logger
  readonly #connections = new Set<QuicMultiaddrConnection>()
  // Aborts upgrades still running when the listener closes.
  readonly #shutdown = new AbortController()
  #server: QUICServer | undefined
  #listenAddr: Multiaddr | undefined

  constructor(init: QuicListenerInit) {
    super()
    this.#init = init
    this.#log = init.logger.forComponent('punchr:quic:listener')
  }

  async listen(ma: Multiaddr): Promise<void> {
    const address = parseQuicAddress(ma)
    const native = nativeLogger(this.#init.logger.forComponent('punchr:quic:native'))
    const socket = await this.#init.endpoint.bind(address, native)
    try {
      const server = new QUICServer({
        socket,
        crypto: serverCrypto(),
        config: quicConfig(await this.#init.credentials(), this.#init.options, certificateCheck(undefined)),
        reasonToCode,
        codeToReason,
        logger: native,
      })
      server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) => {
        void this.#accept((evt as events.EventQUICServerConnection).detail)
      })
      await server.start()
      this.#server = server
    } catch (err) {
      await this.#init.endpoint.close()
      throw err
    }
    this.#listenAddr = formatQuicAddress(address.host, socket.port)
    this.#log('listening on %a', this.#listenAddr)
    this.safeDispatchEvent('listening')
  }

  /** The listen address, a wildcard expanded to the interfaces' addresses. */
  getAddrs(): Multiaddr[] {
    const listenAddr = this.#listenAddr
    if (listenAddr === undefined) return []
    const { host, port } = parseQuicAddress(listenAddr)
    // A `::` socket is dual-stack: it takes IPv4 as well.
    const wildcards = host === '::' ? [listenAddr, formatQuicAddress('0.0.0.0', port)] : [listenAddr]
    // getThinWaistAddresses keeps only IP and port; QUIC goes back on top.
    return wildcards.flatMap((ma) => getThinWaistAddresses(ma).map((addr) => addr.encapsulate('/quic-v1')))
  }

  updateAnnounceAddrs(): void {}

  async close(): Promise<void> {
    this.#shutdown.abort()
    for (const connection of this.#connections) connection.abort(new Error('the QUIC listener closed'))
    const server = this.#server
    // A listener that never listened (say, a refused second address) has nothing to close,
    // and must not close the socket of the one that did. It says nothing either: libp2p
    // 3.3's transport manager, told 'close' while it is closing its listeners, drops another
    // listener from its list, which then stays open.
    if (server === undefined) return
    this.#server = undefined
    this.#listenAddr = undefined
    await server.stop({ force: true })
    // Dials share the socket, so they end here too.
    await this.#init.endpoint.close()
    this.safeDispatchEvent('close')
  }

  async #accept(connection: QUICConnection): Promise<void> {
    const maConn = new QuicMultiaddrConnection({
      connection,
      remoteAddr: formatQuicAddress(connection.remoteHost, connection.remotePort),
      direction: 'inbound',
      log: this.#init.logger.forComponent('punchr:quic:connection'),
      close: () => connection.stop({ isApp: true, force: true }),
    })
    try {
      // The certificate check already passed; this derives the peer it proved again.
      const remotePeer = await verifyPeerCertificate(connection.getRemoteCertsChain())
      await this.#init.upgrader.upgradeInbound(maConn, {
        skipEncryption: true,
        skipProtection: true,
        remotePeer,
        muxerFactory: new QuicMuxerFactory(connection),
        signal: this.#shutdown.signal,
      })
      this.#connections.add(maConn)
      maConn.addEventListener('close', () => this.#connections.delete(maConn), { once: true })
    } catch (err) {
      this.#log.error('inbound QUIC connection from %a failed - %e', maConn.remoteAddr, err)
      maConn.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}
