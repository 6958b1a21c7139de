import type MatrixLogger from '@matrixai/logger'
import { QUICSocket } from '@matrixai/quic'
import type { QuicAddress } from './multiaddr.js'

/** A transport's UDP socket as the rest of the host sees it. */
export interface QuicSocketHandle {
  /** The bound UDP port; undefined until the transport listens. */
  readonly port: number | undefined
  /**
   * Sends one raw UDP datagram from the socket, so that it leaves from the port QUIC uses:
   * the DCUtR initiator's punch packets, which open the NAT mapping the other side's QUIC
   * dial then comes through. Rejects before the transport listens.
   */
  sendDatagram(data: Uint8Array, host: string, port: number): Promise<void>
}

/**
 * The one UDP socket of a QUIC transport. The listener binds it to its listen address, and
 * every dial leaves from it too: a NAT then maps dials to the port peers were told about (the
 * point of DCUtR), and identify's observed address is the listening port.
 */
export class QuicEndpoint implements QuicSocketHandle {
  #socket: QUICSocket | undefined
  // Taken before the socket starts, so that two listeners starting at once cannot both bind.
  #bound = false

  get port(): number | undefined {
    return this.#socket?.port
  }

  /** The bound socket; undefined until the transport listens. */
  get socket(): QUICSocket | undefined {
    return this.#socket
  }

  /**
   * Binds the socket. `::` makes a dual-stack socket that also carries IPv4; `0.0.0.0` and a
   * specific address carry their own family only.
   */
  async bind(address: QuicAddress, logger: MatrixLogger): Promise<QUICSocket> {
    if (this.#bound) throw new Error('the QUIC socket is bound already: a host has one QUIC listen address')
    this.#bound = true
    const socket = new QUICSocket({ logger })
    try {
      await socket.start({ host: address.host, port: address.port, ipv6Only: false })
    } catch (err) {
      this.#bound = false
      throw err
    }
    this.#socket = socket
    return socket
  }

  /** True when the bound socket can send to that IP family. */
  reaches(family: 4 | 6): boolean {
    const type = this.#socket?.type
    return type === 'ipv4&ipv6' || type === (family === 4 ? 'ipv4' : 'ipv6')
  }

  async sendDatagram(data: Uint8Array, host: string, port: number): Promise<void> {
    if (this.#socket === undefined) throw new Error('the QUIC socket is not bound yet: listen first')
    await this.#socket.send(data, port, host)
  }

  /** Stops the socket, ending every connection on it. */
  async close(): Promise<void> {
    const socket = this.#socket
    this.#socket = undefined
    this.#bound = false
    await socket?.stop({ force: true })
  }
}
