import type { Logger, MessageStreamDirection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import type { QUICConnection } from '@matrixai/quic'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface QuicMultiaddrConnectionInit {
  connection: QUICConnection
  remoteAddr: Multiaddr
  direction: MessageStreamDirection
  log: Logger
  /** Closes the QUIC connection (a dial's client, or the listener's connection). */
  close: () => Promise<void>
}

/**
 * A secure QUIC connection as the upgrader's "raw" connection. It carries no bytes itself:
 * the upgrader skips encryption and muxer negotiation, and all data goes over the streams of
 * the QuicMuxer made for the same connection.
 */
export class QuicMultiaddrConnection extends AbstractMultiaddrConnection {
  readonly #close: () => Promise<void>

  constructor(init: QuicMultiaddrConnectionInit) {
    super({ remoteAddr: init.remoteAddr, direction: init.direction, log: init.log })
    this.#close = init.close
    // The peer closing, or the idle timeout, ends the libp2p connection too.
    void init.connection.closedP.then(() => this.onTransportClosed())
  }

  sendData(): SendResult {
    throw new Error('QUIC carries no bytes outside its streams')
  }

  // libp2p has closed the streams (gracefully, within its timeout) before it closes us, so
  // what is left is cut.
  async sendClose(): Promise<void> {
    await this.#close()
  }

  sendReset(): void {
    this.#close().catch((err: unknown) => this.log.error('closing the QUIC connection failed - %e', err))
  }

  // QUIC flow control acts per stream; there is nothing to pause on the connection.
  sendPause(): void {}

  sendResume(): void {}
}
