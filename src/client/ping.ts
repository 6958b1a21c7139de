// The ping protocol (/ipfs/ping/1.0.0: 32 random bytes echoed back) on one given connection,
// so that a measurement says which path it measured: the relay, the relayed connection or the
// direct one. libp2p's ping service picks a connection itself and times in milliseconds,
// which loopback and LAN round trips fall below; here each ping is timed with hrtime.
import { randomBytes } from 'node:crypto'
import type { Connection, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { ChangeSignal } from '../lib/change-signal.js'
import { PING_MEASUREMENT_TIMEOUT_MS, PING_TIMEOUT_MS, PINGS_PER_MEASUREMENT } from './constants.js'

export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32

export interface PingOptions {
  /** @default 10 */
  count?: number
  /** Per ping, ms. @default 5 s */
  pingTimeout?: number
  /** All pings together, ms; pings not started by then are not made. @default 10 s */
  totalTimeout?: number
  signal?: AbortSignal
}

/** Parallel lists, as on the wire: `rtts[i]` in seconds when `errors[i]` is '', else 0. */
export interface PingSeries {
  rtts: number[]
  errors: string[]
}

/**
 * Up to `count` pings over `connection`, one after the other on one stream (a new stream after
 * a failed ping). Stops early when the connection closes; a failed ping is an error entry,
 * never a sentinel RTT (docs/PROTOCOL.md, "Departures from the original punchr").
 */
export async function pingConnection(connection: Connection, options: PingOptions = {}): Promise<PingSeries> {
  const count = options.count ?? PINGS_PER_MEASUREMENT
  const pingTimeout = options.pingTimeout ?? PING_TIMEOUT_MS
  const total = AbortSignal.any([
    AbortSignal.timeout(options.totalTimeout ?? PING_MEASUREMENT_TIMEOUT_MS),
    ...(options.signal === undefined ? [] : [options.signal]),
  ])
  const series: PingSeries = { rtts: [], errors: [] }
  let stream: PingStream | undefined
  for (let i = 0; i < count && !total.aborted; i++) {
    if (connection.status !== 'open') {
      // One entry says why the series stopped; repeating it for every missing ping says nothing.
      if (series.errors.length === 0 || series.errors.at(-1) === '')
        record(series, `connection ${connection.status}`)
      break
    }
    const signal = AbortSignal.any([total, AbortSignal.timeout(pingTimeout)])
    try {
      stream ??= await PingStream.open(connection, signal)
      series.rtts.push(await stream.ping(signal))
      series.errors.push('')
    } catch (err) {
      record(series, errorText(err, signal, options.signal))
      stream?.abort(err instanceof Error ? err : new Error(errorText(err, signal, options.signal)))
      stream = undefined
    }
  }
  await stream?.close()
  return series
}

function record(series: PingSeries, error: string): void {
  series.rtts.push(0)
  series.errors.push(error)
}

function errorText(err: unknown, signal: AbortSignal, userSignal: AbortSignal | undefined): string {
  if (userSignal?.aborted === true) return 'ping cancelled'
  if (signal.aborted) return 'ping timed out'
  if (err instanceof Error) return err.message === '' ? err.name : err.message
  // Some stream implementations reject with the event that ended them (e.g. 'close').
  if (err instanceof Event) return `stream ended (${err.type} event)`
  return String(err)
}

/** One ping stream: send 32 bytes, wait for the same 32 back. */
class PingStream {
  private readonly received = new Uint8ArrayList()
  private readonly changed = new ChangeSignal()
  private ended: Error | undefined

  private constructor(private readonly stream: Stream) {
    stream.addEventListener('message', (evt) => {
      this.received.append(evt.data)
      this.changed.notify()
    })
    stream.addEventListener('close', (evt) => {
      this.ended = evt.error ?? new Error('the remote closed the ping stream')
      this.changed.notify()
    })
    stream.addEventListener('remoteCloseWrite', () => {
      this.ended ??= new Error('the remote closed the ping stream')
      this.changed.notify()
    })
  }

  static async open(connection: Connection, signal: AbortSignal): Promise<PingStream> {
    // Relayed connections are limited; pinging over them is the point of TO_REMOTE_THROUGH_RELAY.
    return new PingStream(await connection.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true }))
  }

  /** Seconds for one round trip. */
  async ping(signal: AbortSignal): Promise<number> {
    const data = randomBytes(PING_LENGTH)
    this.received.consume(this.received.byteLength)
    const start = process.hrtime.bigint()
    if (!this.stream.send(data)) await this.stream.onDrain({ signal })
    while (this.received.byteLength < PING_LENGTH) {
      if (this.ended !== undefined) throw this.ended
      await this.changed.wait(signal)
    }
    const rtt = Number(process.hrtime.bigint() - start) / 1e9
    const echoed = this.received.subarray(0, PING_LENGTH)
    this.received.consume(PING_LENGTH)
    if (!Buffer.from(echoed).equals(data)) throw new Error('ping answer differs from what was sent')
    return rtt
  }

  abort(err: Error): void {
    this.stream.abort(err)
  }

  async close(): Promise<void> {
    await this.stream
      .close({ signal: AbortSignal.timeout(1000) })
      .catch(() => this.stream.abort(new Error('ping done')))
  }
}
