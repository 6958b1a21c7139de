import type { AbortOptions, Logger, MessageStreamDirection, StreamOptions } from '@libp2p/interface'
import { AbstractStream, type SendResult } from '@libp2p/utils'
import type { QUICStream, StreamCodeToReason, StreamReasonToCode } from '@matrixai/quic'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The peer ended its half of a QUIC stream with an error code (RESET_STREAM or STOP_SENDING). */
export class QuicStreamCodeError extends Error {
  override readonly name = 'QuicStreamCodeError'
  constructor(
    /** 'read': the peer reset what it sends us; 'write': the peer stopped reading what we send. */
    readonly side: 'read' | 'write',
    readonly code: number,
  ) {
    super(
      side === 'read'
        ? `the peer reset the stream (code ${code})`
        : `the peer stopped reading (code ${code})`,
    )
  }
}

// libp2p defines no stream error codes for QUIC; go-libp2p and rust-libp2p send 0.
export const reasonToCode: StreamReasonToCode = () => 0
export const codeToReason: StreamCodeToReason = (side, code) => new QuicStreamCodeError(side, code)

export interface QuicStreamInit extends StreamOptions {
  direction: MessageStreamDirection
  log: Logger
}

/** A QUIC stream (WHATWG streams in @matrixai/quic) as a libp2p stream. */
export class QuicStreamAdapter extends AbstractStream {
  readonly #quic: QUICStream
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>
  // Set while libp2p has paused reading: the read loop waits, so QUIC flow control holds the
  // peer back instead of our buffers growing.
  #paused: { resumed: Promise<void>; resume: () => void } | undefined

  constructor(quic: QUICStream, init: QuicStreamInit) {
    super({ ...init, id: String(quic.streamId) })
    this.#quic = quic
    this.#reader = quic.readable.getReader()
    this.#writer = quic.writable.getWriter()
    void this.#readLoop()
  }

  // One write in flight at a time: the base class queues the rest until 'drain'.
  sendData(data: Uint8ArrayList): SendResult {
    this.#writer.write(data.subarray()).then(
      () => this.safeDispatchEvent('drain'),
      (err: unknown) => this.#writeFailed(err),
    )
    return { sentBytes: data.byteLength, canSendMore: false }
  }

  async sendCloseWrite(_options?: AbortOptions): Promise<void> {
    try {
      await this.#writer.close()
    } catch (err) {
      // The peer no longer reads: there is nothing left to finish.
      if (!stoppedByPeer(err)) throw err
    }
  }

  // Closing our read side stays local (no STOP_SENDING): the read loop keeps draining, and
  // the base class drops the data, until the peer's FIN lets the stream finish normally.
  async sendCloseRead(_options?: AbortOptions): Promise<void> {}

  sendReset(err: Error): void {
    this.#quic.cancel(err)
  }

  sendPause(): void {
    if (this.#paused !== undefined) return
    let resume = () => {}
    const resumed = new Promise<void>((resolve) => {
      resume = resolve
    })
    this.#paused = { resumed, resume }
  }

  sendResume(): void {
    this.#paused?.resume()
    this.#paused = undefined
  }

  async #readLoop(): Promise<void> {
    try {
      while (true) {
        await this.#paused?.resumed
        const { done, value } = await this.#reader.read()
        if (done) break
        this.onData(value)
      }
      this.onRemoteCloseWrite()
    } catch (err) {
      this.log('read failed - %e', err)
      // Our own reset fails the reader too; only a stream still in use was reset by the peer
      // (or lost with its connection).
      if (this.status === 'open') this.onRemoteReset()
    }
  }

  #writeFailed(err: unknown): void {
    if (stoppedByPeer(err)) {
      this.onRemoteCloseRead()
      this.safeDispatchEvent('drain')
    } else {
      this.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

function stoppedByPeer(err: unknown): boolean {
  return err instanceof QuicStreamCodeError && err.side === 'write'
}
