import {
  type CreateStreamOptions,
  type MessageStream,
  MuxerClosedError,
  type StreamMuxerFactory,
} from '@libp2p/interface'
import { AbstractStreamMuxer } from '@libp2p/utils'
import { events, type QUICConnection, type QUICStream } from '@matrixai/quic'
import { QuicStreamAdapter } from './stream.js'

/** The name libp2p records as the connection's multiplexer. */
const QUIC_MUXER = '/quic-v1'

/**
 * QUIC multiplexes natively, so each connection brings its own "muxer" factory, which the
 * upgrader uses instead of negotiating one.
 */
export class QuicMuxerFactory implements StreamMuxerFactory<QuicMuxer> {
  readonly protocol = QUIC_MUXER

  constructor(private readonly connection: QUICConnection) {}

  createStreamMuxer(maConn: MessageStream): QuicMuxer {
    return new QuicMuxer(maConn, this.connection)
  }
}

/**
 * The streams of one QUIC connection as a libp2p muxer. The base class tracks streams, holds
 * back inbound ones until libp2p listens, and ends them all when the connection closes.
 */
export class QuicMuxer extends AbstractStreamMuxer<QuicStreamAdapter> {
  constructor(
    maConn: MessageStream,
    private readonly connection: QUICConnection,
  ) {
    super(maConn, { protocol: QUIC_MUXER, name: 'quic' })
    for (const stream of peerStreamsSoFar(connection)) this.#adopt(stream)
    connection.addEventListener(events.EventQUICConnectionStream.name, (evt: Event) =>
      this.#adopt((evt as events.EventQUICConnectionStream).detail),
    )
  }

  onCreateStream(options: CreateStreamOptions): QuicStreamAdapter {
    const stream = this.connection.newStream('bidi')
    // Only the stream options: a `protocol` here would tell libp2p the protocol was agreed in
    // the muxer (QUIC has no such thing) and skip multistream-select.
    const { inactivityTimeout, maxReadBufferLength, maxWriteBufferLength } = options
    return new QuicStreamAdapter(stream, {
      inactivityTimeout,
      maxReadBufferLength,
      maxWriteBufferLength,
      direction: 'outbound',
      log: this.#streamLog(stream),
    })
  }

  onData(): void {
    throw new Error('QUIC carries no bytes outside its streams')
  }

  #adopt(stream: QUICStream): void {
    if (this.status !== 'open') {
      stream.cancel(new MuxerClosedError())
      return
    }
    this.onRemoteStream(
      new QuicStreamAdapter(stream, {
        ...this.streamOptions,
        direction: 'inbound',
        log: this.#streamLog(stream),
      }),
    )
  }

  #streamLog(stream: QUICStream) {
    return this.log.newScope(`stream:${stream.streamId}`)
  }
}

/**
 * The streams the peer opened before this muxer existed. @matrixai/quic announces a peer's
 * stream once, with an event, as soon as the connection is secure, which can be before the
 * connection has reached libp2p's upgrader and us: a peer may open its first stream (identify)
 * in the same flight as its handshake's end, while the server connection is still starting
 * (checking the client's certificate). Such streams wait in the connection's stream map, their
 * data buffered, and are picked up here. That a starting connection keeps them at all is our
 * patch of @matrixai/quic 2.0.9 (patches/, ADR 0004: unpatched, it resets them). The map is
 * internal to @matrixai/quic (2.0.x), hence the check: an upgrade that renames it fails here,
 * not by silently losing streams.
 */
function peerStreamsSoFar(connection: QUICConnection): QUICStream[] {
  const streamMap: unknown = Reflect.get(connection, 'streamMap')
  if (!(streamMap instanceof Map)) throw new Error('@matrixai/quic has no QUICConnection.streamMap any more')
  return [...(streamMap as Map<number, QUICStream>).values()].filter((stream) => stream.initiated === 'peer')
}
