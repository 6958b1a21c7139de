// The DCUtR initiator of a misbehaving lab remote (src/lab/behaviours.ts): in place of stock
// @libp2p/dcutr it opens /libp2p/dcutr on every relayed connection a peer that speaks DCUtR
// makes to it, as stock dcutr does, and then breaks the protocol in one chosen way. What the
// client must do about each is in docs/OUTCOMES.md; what the lab expects in behaviours.ts.

import { BinaryWriter } from '@bufbuild/protobuf/wire'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { encodeFrame, FramedStream, HolePunchType, PROTOCOL } from '../../client/tracer/index.js'
import { isRelayAddr } from '../../lib/multiaddr.js'

/** The behaviours this initiator plays; the others need no initiator of their own. */
export type HostileInitiatorBehaviour =
  | 'silent-dcutr'
  | 'garbage-dcutr'
  | 'stream-flood'
  | 'never-sync'
  | 'dies-mid-punch'

/** Streams a flooding remote opens on one relayed connection at most (it stops earlier when that closes). */
export const FLOOD_STREAMS = 200
/** Pause between two flood streams. */
const FLOOD_INTERVAL_MS = 20
/** How long a silent stream is held open: far past the client's attempt timeout. */
const HOLD_MS = 120_000
/** A CONNECT reply from the client within this, or the remote moves on. */
const REPLY_TIMEOUT_MS = 10_000

export interface HostileDcutrInit {
  behaviour: HostileInitiatorBehaviour
  /** The addresses a CONNECT carries (the remote's public ones, as stock dcutr would send). */
  addrs: () => Multiaddr[]
  /** `dies-mid-punch`: drops every connection and comes back (remote.ts restarts the node). */
  die: () => void
}

interface Components {
  registrar: {
    register(protocol: string, topology: Topology): Promise<string>
    unregister(id: string): void
    handle(
      protocol: string,
      handler: (stream: Stream) => void,
      options: { runOnLimitedConnection: boolean; maxOutboundStreams: number },
    ): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  logger: { forComponent(name: string): Logger }
}

interface Topology {
  notifyOnLimitedConnection: boolean
  onConnect: (peer: PeerId, connection: Connection) => void
}

export class HostileDcutr {
  readonly [Symbol.toStringTag] = '@punchr/lab-hostile-dcutr'
  private readonly log: Logger
  private topologyId: string | undefined
  /** Aborted by stop(); a new one per start (dies-mid-punch restarts the node). */
  private stopped = new AbortController()

  constructor(
    private readonly components: Components,
    private readonly init: HostileDcutrInit,
  ) {
    this.log = components.logger.forComponent('lab:hostile-dcutr')
  }

  async start(): Promise<void> {
    this.stopped = new AbortController()
    // Handling the protocol is what makes identify list /libp2p/dcutr, which the honeypot needs
    // to see; the streams a client might open are closed at once.
    await this.components.registrar.handle(PROTOCOL, (stream) => void stream.close(), {
      runOnLimitedConnection: true,
      maxOutboundStreams: FLOOD_STREAMS + 1,
    })
    this.topologyId = await this.components.registrar.register(PROTOCOL, {
      notifyOnLimitedConnection: true,
      onConnect: (_peer, connection) => {
        // Like stock dcutr: the side a relayed connection came in to starts DCUtR.
        if (!isRelayAddr(connection.remoteAddr) || connection.direction !== 'inbound') return
        this.misbehave(connection).catch((err: unknown) =>
          this.log('%s towards %p ended: %s', this.init.behaviour, connection.remotePeer, String(err)),
        )
      },
    })
  }

  async stop(): Promise<void> {
    this.stopped.abort()
    if (this.topologyId !== undefined) this.components.registrar.unregister(this.topologyId)
    await this.components.registrar.unhandle(PROTOCOL)
  }

  private async misbehave(connection: Connection): Promise<void> {
    const signal = AbortSignal.any([this.stopped.signal, closed(connection)])
    this.log('%s towards %p', this.init.behaviour, connection.remotePeer)
    switch (this.init.behaviour) {
      case 'silent-dcutr': {
        const stream = await this.open(connection, signal)
        await hold(stream, signal)
        return
      }
      case 'never-sync': {
        const framed = new FramedStream(await this.open(connection, signal))
        await framed.write(this.connect(), signal)
        await framed.read(AbortSignal.any([signal, AbortSignal.timeout(REPLY_TIMEOUT_MS)]))
        await hold(undefined, signal)
        framed.abort(new Error('never-sync: done holding'))
        return
      }
      case 'dies-mid-punch': {
        const framed = new FramedStream(await this.open(connection, signal))
        await framed.write(this.connect(), signal)
        await framed.read(AbortSignal.any([signal, AbortSignal.timeout(REPLY_TIMEOUT_MS)]))
        this.init.die()
        return
      }
      case 'garbage-dcutr':
        for (const frame of garbageFrames()) {
          const stream = await this.open(connection, signal)
          stream.send(frame)
          // The client resets the stream once it has read the garbage; then the next one.
          await hold(stream, AbortSignal.any([signal, AbortSignal.timeout(REPLY_TIMEOUT_MS)]))
        }
        return
      case 'stream-flood':
        for (let i = 0; i < FLOOD_STREAMS && !signal.aborted; i++) {
          try {
            const stream = await this.open(connection, signal)
            stream.send(this.connectFrame())
            void stream.close().catch(() => undefined)
          } catch {
            // The client resets what it will not answer; a closed connection ends the loop.
          }
          await sleep(FLOOD_INTERVAL_MS, signal)
        }
        return
    }
  }

  private open(connection: Connection, signal: AbortSignal): Promise<Stream> {
    return connection.newStream(PROTOCOL, { runOnLimitedConnection: true, signal })
  }

  private connect() {
    return { type: HolePunchType.CONNECT, obsAddrs: this.init.addrs().map((a) => a.bytes) }
  }

  private connectFrame(): Uint8Array {
    return encodeFrame(this.connect())
  }
}

/**
 * One stream's worth each: a frame that is not a HolePunch protobuf, a length prefix of 1 MiB
 * (the spec's limit is 4 KiB) followed by 8 KiB, and a CONNECT whose addresses are not multiaddrs.
 */
export function garbageFrames(): Uint8Array[] {
  const notProtobuf = new BinaryWriter().bytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).finish()
  const oversized = new Uint8Array([
    ...new BinaryWriter().uint32(1024 * 1024).finish(),
    ...new Uint8Array(8192),
  ])
  const noAddrs = encodeFrame({
    type: HolePunchType.CONNECT,
    obsAddrs: [new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
  })
  return [notProtobuf, oversized, noAddrs]
}

/** The libp2p service: `services: { dcutr: hostileDcutr(init) }`. */
export function hostileDcutr(init: HostileDcutrInit): (components: Components) => HostileDcutr {
  return (components) => new HostileDcutr(components, init)
}

/** Waits until `signal` aborts or `stream` closes (reset by the client). */
function hold(stream: Stream | undefined, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, HOLD_MS)
    signal.addEventListener('abort', done, { once: true })
    stream?.addEventListener('close', done, { once: true })
    if (signal.aborted) done()
  })
}

/** Aborts when the connection closes. */
function closed(connection: Connection): AbortSignal {
  const controller = new AbortController()
  if (connection.status !== 'open') controller.abort(new Error('connection closed'))
  else
    connection.addEventListener('close', () => controller.abort(new Error('connection closed')), {
      once: true,
    })
  return controller.signal
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}
