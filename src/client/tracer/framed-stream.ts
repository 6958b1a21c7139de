// Length-prefixed HolePunch messages over a libp2p 3 stream. libp2p 3 streams are event
// targets ('message', 'remoteCloseWrite', 'close'); this keeps one buffer across messages so
// that several CONNECT/SYNC rounds can run on one stream, and every wait takes a signal so
// that a silent remote cannot hold an attempt past its deadline.
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { ChangeSignal } from '../../lib/change-signal.js'
import { MAX_MESSAGE_SIZE } from './constants.js'
import { errorMessage, StreamEndedError } from './errors.js'
import { decodeFrame, encodeFrame, type HolePunch } from './pb.js'

export class FramedStream {
  private readonly buffer = new Uint8ArrayList()
  private remoteEnded: boolean
  private failure: Error | undefined
  private readonly changed = new ChangeSignal()

  constructor(
    private readonly stream: Stream,
    private readonly maxMessageSize = MAX_MESSAGE_SIZE,
  ) {
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('remoteCloseWrite', this.onRemoteEnd)
    stream.addEventListener('close', this.onClose)
    // The remote may have sent its CONNECT and closed its end before the handler ran.
    this.remoteEnded = stream.remoteWriteStatus === 'closed'
    if (stream.status === 'reset' || stream.status === 'aborted') {
      this.failure = new StreamEndedError(`stream ${stream.status}`)
    }
  }

  /**
   * The next message; undefined when the remote closed the stream cleanly between messages.
   * Throws MalformedMessageError / MessageTooLargeError for bad bytes, StreamEndedError when
   * the stream broke or ended mid-message, and the signal's reason when it aborts first.
   */
  async read(signal: AbortSignal): Promise<HolePunch | undefined> {
    for (;;) {
      const frame = decodeFrame(this.buffer, this.maxMessageSize)
      if (frame !== undefined) {
        this.buffer.consume(frame.consumed)
        return frame.message
      }
      if (this.failure !== undefined) throw this.failure
      // Bytes still queued inside the stream reach us as 'message' events before we call it ended.
      if (this.remoteEnded && this.stream.readBufferLength === 0) {
        if (this.buffer.byteLength === 0) return undefined
        throw new StreamEndedError(`stream ended ${this.buffer.byteLength} bytes into a message`)
      }
      await this.changed.wait(signal)
    }
  }

  /** Sends one message, waiting for the stream to drain if it asks to. */
  async write(message: HolePunch, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    const frame = encodeFrame(message, this.maxMessageSize)
    let canSendMore: boolean
    try {
      canSendMore = this.stream.send(frame)
    } catch (err) {
      throw new StreamEndedError(`cannot write to the stream: ${errorMessage(err)}`, { cause: err })
    }
    if (!canSendMore) await this.stream.onDrain({ signal })
  }

  /** Closes our end gracefully, or resets the stream when that does not finish in time. */
  async close(signal: AbortSignal): Promise<void> {
    this.detach()
    try {
      await this.stream.close({ signal })
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Resets the stream (the remote sees an error). */
  abort(err: Error): void {
    this.detach()
    this.stream.abort(err)
  }

  private detach(): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteEnd)
    this.stream.removeEventListener('close', this.onClose)
  }

  private readonly onMessage = (evt: Event): void => {
    // StreamMessageEvent; typed loosely because the stream's listener map is structural.
    const data = (evt as Event & { data: Uint8Array | Uint8ArrayList }).data
    this.buffer.append(data)
    this.changed.notify()
  }

  private readonly onRemoteEnd = (): void => {
    this.remoteEnded = true
    this.changed.notify()
  }

  private readonly onClose = (evt: Event): void => {
    const error = (evt as Event & { error?: Error }).error
    if (error !== undefined) {
      this.failure ??= new StreamEndedError(`stream closed with an error: ${errorMessage(error)}`, {
        cause: error,
      })
    }
    this.remoteEnded = true
    this.changed.notify()
  }
}
