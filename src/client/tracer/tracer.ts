// The traced DCUtR responder (side A). One attempt is one CONNECT/SYNC round and the punch
// that follows it; a remote opens a stream per attempt (js-libp2p, go-libp2p) or runs several
// rounds on one stream (as the spec allows), and both work here. The spec's steps, as seen
// from A (libp2p/specs relay/DCUtR.md, "The Protocol"):
//   1. B opens a /libp2p/dcutr stream              → stream-opened
//   2. B sends CONNECT with its observed addresses → connect-received
//   3. A answers CONNECT with its observed addrs   → connect-sent
//   4. B sends SYNC                                → sync-received
//   5. A dials B's addresses at once               → dial-started, dial-succeeded | dial-failed
//   6. on failure B goes back to 2 (same stream) or 1 (new stream)
import {
  type Connection,
  type IdentifyResult,
  type Logger,
  type MultiaddrConnectionTimeline,
  type PeerId,
  type Startable,
  type Stream,
  serviceDependencies,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayAddr, parseMultiaddrBytes } from '../../lib/multiaddr.js'
import { type Clock, nowNs } from './clock.js'
import {
  ATTEMPT_TIMEOUT_MS,
  DIAL_TIMEOUT_MS,
  LATE_CONNECTION_WINDOW_MS,
  MAX_ATTEMPTS_PER_ROUND,
  MAX_EVENTS_PER_TRACE,
  MAX_INBOUND_STREAMS,
  MAX_MESSAGE_SIZE,
  MAX_TRACES,
  PROTOCOL,
  REMOTE_MAX_ATTEMPTS,
  ROUND_DEADLINE_MS,
  STREAM_OPEN_TIMEOUT_MS,
} from './constants.js'
import { type DialSocketOptions, dialFirst, dialRole } from './dialer.js'
import {
  AttemptAbortedError,
  AttemptTimeoutError,
  errorMessage,
  errorName,
  MalformedMessageError,
  MessageTooLargeError,
  NoDialableAddressesError,
  NotRelayedError,
  StreamEndedError,
  UnexpectedMessageError,
} from './errors.js'
import type { AttemptEndReason, DcutrTracerEvents, DialRole, OwnAddrSource, TraceEvent } from './events.js'
import { FramedStream } from './framed-stream.js'
import type { DcutrTracerComponents, DcutrTracerInit } from './index.js'
import { ObservedAddrs, withoutPeerId } from './observed-addrs.js'
import { type HolePunch, HolePunchType } from './pb.js'
import { TypedEventTarget } from './typed-event-target.js'

/** Events kept past the per-trace cap: those an attempt's outcome or the round's end turns on. */
const DECISIVE_EVENTS = new Set<TraceEvent['type']>([
  'direct-connection',
  'abandoned-connection',
  'dial-succeeded',
  'attempt-ended',
])

/** Our CONNECT carries at most this many addresses, which keeps it far below 4 KiB. */
const MAX_OWN_ADDRS = 16

/** An event without the fields `emit` fills in. */
type NewEvent = TraceEvent extends infer E
  ? E extends TraceEvent
    ? Omit<E, 'timestamp' | 'peer'>
    : never
  : never

interface RunningAttempt {
  n: number
  /** Aborted with the reason the attempt stops early (AttemptTimeoutError, AttemptAbortedError). */
  controller: AbortController
  timer: NodeJS.Timeout
  phase: 'exchange' | 'dialing'
  directDial: boolean
  /** Called when a direct connection that is not one of our dials comes up. */
  onDirectConnection?: () => void
}

interface PeerTrace {
  peer: PeerId
  events: TraceEvent[]
  dropped: number
  nextAttempt: number
  running: Map<number, RunningAttempt>
  /** Aborts the reads of this remote's streams between rounds. */
  streams: Set<AbortController>
  lastEnded?: { attempt: number; atMs: number }
  holePunchAttemptsEnded: number
  /** dcutr streams reset unanswered because the remote had used its MAX_ATTEMPTS_PER_ROUND. */
  refusedStreams: number
  waiters: Set<() => void>
}

/** What ended `waitForEnd`. */
export type WaitForEndResult =
  /** A direct connection to the remote exists (whichever attempt, or none, made it). */
  | 'direct-connection'
  /** The remote made its last attempt (and the late-connection window passed). */
  | 'attempts-exhausted'
  /** The remote opened no (further) stream within the stream-open timeout. */
  | 'silence'
  /** The signal aborted; the remote's running attempts were cancelled. */
  | 'cancelled'
  /** The round's deadline passed; the remote's running attempts ended TIMEOUT. */
  | 'deadline'

export interface WaitForEndOptions {
  signal?: AbortSignal
  /** @default the init's `streamOpenTimeout` (30 s) */
  streamOpenTimeout?: number
  /** @default 3, the remote's attempts (REMOTE_MAX_ATTEMPTS) */
  maxAttempts?: number
  /** Ends the wait this long after the call, whatever runs then. @default ROUND_DEADLINE_MS */
  deadline?: number
}

export class DcutrTracer extends TypedEventTarget<DcutrTracerEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@punchr/dcutr-tracer'
  // libp2p checks at start-up that identify is configured: our observed addresses come from it.
  readonly [serviceDependencies] = ['@libp2p/identify']

  private readonly log: Logger
  private readonly clock: Clock
  private readonly role: DialRole | ((peer: PeerId, attempt: number) => DialRole)
  private readonly attemptTimeout: number
  private readonly streamOpenTimeout: number
  private readonly dialTimeout: number
  private readonly lateConnectionWindow: number
  private readonly maxInboundStreams: number
  private readonly maxMessageSize: number
  private readonly maxTraces: number
  private readonly maxEventsPerTrace: number
  private readonly maxAttemptsPerRound: number
  private readonly dialOptions: DialSocketOptions
  private readonly observed = new ObservedAddrs()
  private readonly traces = new Map<string, PeerTrace>()
  /** Traces forgotten (`clear`, eviction) while attempts still ran: `stop()` must reach them. */
  private readonly detached = new Set<PeerTrace>()
  /** Our hole-punch dials, by the raw connection's timeline (which the Connection shares). */
  private readonly ownDials = new WeakMap<MultiaddrConnectionTimeline, number>()
  private readonly handlers = new Set<Promise<void>>()
  private started = false

  constructor(
    private readonly components: DcutrTracerComponents,
    private readonly init: DcutrTracerInit = {},
  ) {
    super()
    this.log = components.logger.forComponent('punchr:tracer')
    this.clock = init.clock ?? nowNs
    this.role = init.role ?? 'responder'
    this.attemptTimeout = init.attemptTimeout ?? ATTEMPT_TIMEOUT_MS
    this.streamOpenTimeout = init.streamOpenTimeout ?? STREAM_OPEN_TIMEOUT_MS
    this.dialTimeout = init.dialTimeout ?? DIAL_TIMEOUT_MS
    this.lateConnectionWindow = init.lateConnectionWindow ?? LATE_CONNECTION_WINDOW_MS
    this.maxInboundStreams = init.maxInboundStreams ?? MAX_INBOUND_STREAMS
    this.maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE
    this.maxTraces = init.maxTraces ?? MAX_TRACES
    this.maxEventsPerTrace = init.maxEventsPerTrace ?? MAX_EVENTS_PER_TRACE
    this.maxAttemptsPerRound = init.maxAttemptsPerRound ?? MAX_ATTEMPTS_PER_ROUND
    this.dialOptions = init.dialOptions ?? {}
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    if (this.started) return
    await this.components.registrar.handle(PROTOCOL, this.handleStream, {
      // The stream arrives on the relayed connection, which is limited.
      runOnLimitedConnection: true,
      maxInboundStreams: this.maxInboundStreams,
    })
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.started = true
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    await this.components.registrar.unhandle(PROTOCOL)
    for (const state of [...this.traces.values(), ...this.detached]) this.abortPeer(state)
    this.detached.clear()
    // Every wait of a handler is bounded by the aborts above, so this ends promptly.
    await Promise.allSettled([...this.handlers])
  }

  /** The events of one remote so far (a copy), oldest first. */
  trace(peer: PeerId): TraceEvent[] {
    return [...(this.traces.get(peer.toString())?.events ?? [])]
  }

  /** How many events of `peer`'s trace were not kept (the per-trace cap, MAX_EVENTS_PER_TRACE). */
  dropped(peer: PeerId): number {
    return this.traces.get(peer.toString())?.dropped ?? 0
  }

  /**
   * Starts a trace for `peer` before anything happens, so that a direct connection without any
   * dcutr stream (a reversed connection) is recorded too. Call it before the relayed dial.
   */
  watch(peer: PeerId): void {
    this.traceFor(peer)
  }

  /** Forgets the trace of `peer`, or of every remote. Running attempts go on, untraced. */
  clear(peer?: PeerId): void {
    const states = peer === undefined ? [...this.traces.values()] : [this.traces.get(peer.toString())]
    for (const state of states) if (state !== undefined) this.forget(state)
  }

  /** Stops the running attempts of `peer`; they end CANCELLED. */
  cancel(peer: PeerId): void {
    const state = this.traces.get(peer.toString())
    if (state !== undefined) this.abortPeer(state)
  }

  /** Our addresses as identify saw them on direct connections, the most recent first. */
  observedAddrs(): Multiaddr[] {
    return this.observed.list()
  }

  /** Forgets the observed addresses: their connections are gone, and so may their NAT mappings be. */
  forgetObservedAddrs(): void {
    this.observed.clear()
  }

  /** The addresses our next CONNECT (to `peer`, if given) will carry, and where they come from. */
  ownAddrs(peer?: PeerId): { addrs: Multiaddr[]; source: OwnAddrSource } {
    const offer = this.init.offerAddrs
    const notRelay = (addrs: Multiaddr[]) => {
      const candidates = addrs.filter((a) => !isRelayAddr(a))
      return (peer === undefined || offer === undefined ? candidates : offer(candidates, peer)).slice(
        0,
        MAX_OWN_ADDRS,
      )
    }
    if (this.init.observedAddrs !== undefined)
      return { addrs: notRelay(this.init.observedAddrs()), source: 'init' }
    const identified = notRelay([...(this.init.mappedAddrs?.() ?? []), ...this.observed.list()])
    if (identified.length > 0) return { addrs: identified, source: 'identify' }
    const observed = notRelay(this.components.addressManager.getObservedAddrs())
    if (observed.length > 0) return { addrs: observed, source: 'address-manager' }
    return { addrs: notRelay(this.components.addressManager.getAddresses()), source: 'address-manager' }
  }

  /**
   * Waits until the remote's DCUtR is over for this round: a direct connection exists, the
   * remote made its last attempt, or it stayed silent for the stream-open timeout (30 s, from
   * the call or from the last attempt's end). Attempts in progress end by their own deadline.
   */
  async waitForEnd(peer: PeerId, options: WaitForEndOptions = {}): Promise<WaitForEndResult> {
    const state = this.traceFor(peer)
    const streamOpenTimeout = options.streamOpenTimeout ?? this.streamOpenTimeout
    const maxAttempts = options.maxAttempts ?? REMOTE_MAX_ATTEMPTS
    const since = performance.now()
    const deadline = since + (options.deadline ?? ROUND_DEADLINE_MS)
    let seen = 0
    for (;;) {
      if (options.signal?.aborted === true) {
        this.abortPeer(state)
        return 'cancelled'
      }
      if (performance.now() >= deadline) {
        const passed = (options.deadline ?? ROUND_DEADLINE_MS) / 1000
        for (const run of state.running.values())
          run.controller.abort(new AttemptTimeoutError(`the round's deadline of ${passed} s passed`))
        return 'deadline'
      }
      for (; seen < state.events.length; seen++) {
        if (state.events[seen]!.type === 'direct-connection') return 'direct-connection'
      }
      const now = performance.now()
      let wait = Number.POSITIVE_INFINITY
      if (state.running.size === 0) {
        const lastEnd = state.lastEnded?.atMs ?? since
        if (state.holePunchAttemptsEnded >= maxAttempts) {
          wait = lastEnd + this.lateConnectionWindow - now
          if (wait <= 0) return 'attempts-exhausted'
        } else {
          wait = Math.max(since, lastEnd) + streamOpenTimeout - now
          if (wait <= 0) return 'silence'
        }
      }
      await this.nextChange(state, Math.min(wait, deadline - now), options.signal)
    }
  }

  /** dcutr streams of `peer` reset this round because it had started MAX_ATTEMPTS_PER_ROUND attempts. */
  refusedStreams(peer: PeerId): number {
    return this.traces.get(peer.toString())?.refusedStreams ?? 0
  }

  /**
   * Dials `addrs` of `peer` directly, as the initiator, without a hole punch (e.g. when the
   * remote has public addresses). Traced as an attempt: DIRECT_DIAL when it connects, else its
   * error becomes the next hole-punch attempt's `directDialError`.
   */
  async directDial(
    peer: PeerId,
    addrs: Multiaddr[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Connection | undefined> {
    const state = this.traceFor(peer)
    const run = this.openAttempt(state, true)
    const onAbort = () => run.controller.abort(new AttemptAbortedError('direct dial cancelled', 'cancelled'))
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      this.emit(state, { type: 'direct-dial-started', attempt: run.n, addrs })
      run.phase = 'dialing'
      return (await this.dialAll(state, run, addrs, 'initiator')).connection
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  // ── the stream handler ────────────────────────────────────────────────────────────────────

  private readonly handleStream = (stream: Stream, connection: Connection): void => {
    const handling = this.serveStream(stream, connection).catch((err: unknown) => {
      // Every expected failure is traced inside; this is a bug, not a remote's misbehaviour.
      this.log.error('dcutr stream from %p failed - %e', connection.remotePeer, err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
    this.handlers.add(handling)
    void handling.finally(() => this.handlers.delete(handling))
  }

  private async serveStream(stream: Stream, connection: Connection): Promise<void> {
    const state = this.traceFor(connection.remotePeer)
    if (state.nextAttempt > this.maxAttemptsPerRound) {
      // A remote that keeps opening streams: its round has had all the attempts it gets.
      state.refusedStreams++
      stream.abort(new Error(`${this.maxAttemptsPerRound} dcutr attempts this round; no more`))
      return
    }
    const framed = new FramedStream(stream, this.maxMessageSize)
    const relayed = isRelayAddr(connection.remoteAddr)
    let run = this.openAttempt(state, false)
    this.emit(state, {
      type: 'stream-opened',
      attempt: run.n,
      streamId: stream.id,
      connectionId: connection.id,
      relayed,
    })
    if (!relayed) {
      // go-libp2p refuses these too: over a direct connection there is nothing to upgrade.
      const err = new NotRelayedError(
        `dcutr stream over the direct connection ${connection.remoteAddr.toString()}`,
      )
      this.protocolError(state, run, err)
      framed.abort(err)
      return
    }
    const streamController = new AbortController()
    state.streams.add(streamController)
    try {
      let firstMessage: HolePunch | undefined
      for (;;) {
        const result = await this.round(state, framed, run, firstMessage, streamController.signal)
        if (result.next === undefined) break
        // Another round on the same stream: a new attempt, which starts with its CONNECT.
        run = this.openAttempt(state, false)
        firstMessage = result.next
      }
    } finally {
      state.streams.delete(streamController)
    }
  }

  /**
   * One CONNECT/SYNC round and its punch. Returns the message that opens the next round on
   * this stream, if the remote sends one; the stream is closed or reset when there is none.
   */
  private async round(
    state: PeerTrace,
    framed: FramedStream,
    run: RunningAttempt,
    firstMessage: HolePunch | undefined,
    streamSignal: AbortSignal,
  ): Promise<{ next?: HolePunch }> {
    const dialAddrs = await this.exchange(state, framed, run, firstMessage)
    if (dialAddrs === undefined) return {}
    return this.punch(state, framed, run, dialAddrs, streamSignal)
  }

  /**
   * Steps 2–4: the remote's CONNECT, ours, its SYNC. Returns the addresses to punch, or
   * undefined when the attempt ended here (protocol error, timeout, cancel; the stream is reset).
   */
  private async exchange(
    state: PeerTrace,
    framed: FramedStream,
    run: RunningAttempt,
    firstMessage: HolePunch | undefined,
  ): Promise<Multiaddr[] | undefined> {
    const signal = run.controller.signal
    try {
      // 2. B's CONNECT (already read when this round started on a reused stream).
      const connect = firstMessage ?? (await framed.read(signal))
      if (connect === undefined) throw new StreamEndedError('the remote closed the stream before CONNECT')
      if (connect.type !== HolePunchType.CONNECT) {
        throw new UnexpectedMessageError(`expected CONNECT, got ${HolePunchType[connect.type]}`)
      }
      const { addrs, invalid } = decodeAddrs(connect.obsAddrs)
      const dialAddrs = this.selectDialAddrs(addrs, state.peer)
      this.emit(state, { type: 'connect-received', attempt: run.n, addrs, invalidAddrs: invalid, dialAddrs })
      if (dialAddrs.length === 0) {
        throw new NoDialableAddressesError(
          `CONNECT carried no dialable address (${addrs.length} decoded, ${invalid} invalid)`,
        )
      }
      // 3. Our CONNECT.
      const own = this.ownAddrs(state.peer)
      await framed.write({ type: HolePunchType.CONNECT, obsAddrs: own.addrs.map((a) => a.bytes) }, signal)
      this.emit(state, { type: 'connect-sent', attempt: run.n, addrs: own.addrs, source: own.source })
      // 4. B's SYNC: B waits half its RTT and dials; we dial now.
      const sync = await framed.read(signal)
      if (sync === undefined) throw new StreamEndedError('the remote closed the stream before SYNC')
      if (sync.type !== HolePunchType.SYNC) {
        throw new UnexpectedMessageError(`expected SYNC, got ${HolePunchType[sync.type]}`)
      }
      this.emit(state, { type: 'sync-received', attempt: run.n })
      return dialAddrs
    } catch (err) {
      if (signal.aborted) this.endAttempt(state, run, endReason(signal.reason), errorMessage(signal.reason))
      else this.protocolError(state, run, err)
      framed.abort(err instanceof Error ? err : new Error(String(err)))
      return undefined
    }
  }

  /**
   * Steps 5–6: the punch, and meanwhile the remote's next round on this stream, if it starts
   * one: if it comes while we still dial, the remote has given up on this attempt.
   */
  private async punch(
    state: PeerTrace,
    framed: FramedStream,
    run: RunningAttempt,
    dialAddrs: Multiaddr[],
    streamSignal: AbortSignal,
  ): Promise<{ next?: HolePunch }> {
    const stopReading = new AbortController()
    const nextSignal = AbortSignal.any([
      streamSignal,
      stopReading.signal,
      AbortSignal.timeout(this.attemptTimeout),
    ])
    const next = framed.read(nextSignal).then(
      (message) => ({ message }),
      (error: unknown) => ({ error }),
    )
    run.phase = 'dialing'
    const role = typeof this.role === 'function' ? this.role(state.peer, run.n) : this.role
    const dials = this.dialAll(state, run, dialAddrs, role)
    const first = await Promise.race([dials.then(() => 'punch' as const), next.then(() => 'next' as const)])
    if (first === 'next') {
      const early = await next
      if ('message' in early && early.message !== undefined) {
        run.controller.abort(new AttemptAbortedError('the remote started its next round', 'superseded'))
      }
    }
    if ((await dials).connected) {
      // Done: B closes the relayed connection (js-libp2p) or the stream (go-libp2p) itself.
      stopReading.abort()
      void framed.close(AbortSignal.timeout(this.dialTimeout))
      return {}
    }
    // 6. Failed: B starts over on this stream, or on a new one (then this one just ends).
    const result = await next
    if ('message' in result && result.message !== undefined) return { next: result.message }
    if ('error' in result && isCodecError(result.error)) {
      // Garbage where the next round's CONNECT should be: an attempt that broke at once.
      const broken = this.openAttempt(state, false)
      this.protocolError(state, broken, result.error)
      framed.abort(result.error)
      return {}
    }
    void framed.close(AbortSignal.timeout(this.dialTimeout))
    return {}
  }

  /**
   * Dials every address at once and ends the attempt: 'direct-connection' when one of our
   * dials or a connection from the remote comes up, else 'dials-failed' or why it was aborted.
   */
  private async dialAll(
    state: PeerTrace,
    run: RunningAttempt,
    addrs: Multiaddr[],
    role: DialRole,
  ): Promise<{ connected: boolean; connection?: Connection }> {
    const signal = run.controller.signal
    const fromRemote = new Promise<'remote'>((resolve) => {
      run.onDirectConnection = () => resolve('remote')
    })
    const dials = dialFirst(this.components, addrs, state.peer, {
      role,
      signal,
      timeout: this.dialTimeout,
      socket: this.dialOptions,
      onRawConnection: (maConn) => this.ownDials.set(maConn.timeline, run.n),
      onDialStart: (addr) =>
        this.emit(state, { type: 'dial-started', attempt: run.n, addr, role: dialRole(addr, role) }),
      onDialEnd: (addr, result) => {
        if ('connection' in result) {
          this.emit(state, {
            type: 'dial-succeeded',
            attempt: run.n,
            addr,
            connectionId: result.connection.id,
          })
        } else {
          const error = errorMessage(result.error)
          this.emit(state, {
            type: 'dial-failed',
            attempt: run.n,
            addr,
            error,
            errorName: errorName(result.error),
          })
        }
      },
    })
    const first = await Promise.race([
      dials.then(
        (race) => race.connection,
        () => undefined,
      ),
      fromRemote,
    ])
    if (first === 'remote') {
      // The remote's connection made it; our dials are pointless now.
      run.controller.abort(new AttemptAbortedError('the remote connected to us', 'direct-connection'))
    }
    // Every dial event is in before the attempt ends; aborted dials end at once (dialer.ts).
    const own = await dials.then(
      (race) => race.connection,
      () => undefined,
    )
    if (own !== undefined || first === 'remote') {
      this.endAttempt(state, run, 'direct-connection')
      return own !== undefined ? { connected: true, connection: own } : { connected: true }
    }
    if (signal.aborted) this.endAttempt(state, run, endReason(signal.reason), errorMessage(signal.reason))
    else this.endAttempt(state, run, 'dials-failed')
    return { connected: false }
  }

  // ── libp2p events ─────────────────────────────────────────────────────────────────────────

  private readonly onIdentify = (evt: Event): void => {
    const result = (evt as CustomEvent<IdentifyResult>).detail
    this.observed.observe(result.observedAddr, result.connection)
  }

  private readonly onConnectionOpen = (evt: Event): void => {
    const connection = (evt as CustomEvent<Connection>).detail
    if (isRelayAddr(connection.remoteAddr)) return
    const state = this.traces.get(connection.remotePeer.toString())
    if (state === undefined) return
    const ownAttempt = this.ownDials.get(connection.timeline)
    if (ownAttempt !== undefined && this.gaveUp(state, ownAttempt)) {
      this.emit(state, {
        type: 'abandoned-connection',
        attempt: ownAttempt,
        remoteAddr: connection.remoteAddr,
        connectionId: connection.id,
      })
      void connection.close().catch(() => connection.abort(new Error('abandoned hole-punch dial')))
      return
    }
    const attempt = ownAttempt ?? this.attemptForConnection(state)
    this.emit(state, {
      type: 'direct-connection',
      attempt,
      direction: ownAttempt !== undefined ? 'outbound' : connection.direction,
      ownDial: ownAttempt !== undefined,
      remoteAddr: connection.remoteAddr,
      connectionId: connection.id,
    })
    // Our own dial's success reaches its attempt through the dial itself; waking the attempt
    // here could abort that very dial before it returns the connection.
    if (ownAttempt === undefined && attempt !== undefined) state.running.get(attempt)?.onDirectConnection?.()
  }

  /**
   * Whether the dials of `attempt` were given up: it ended, or is being stopped for another
   * reason than the remote's own connection (with which the attempt succeeded anyway).
   */
  private gaveUp(state: PeerTrace, attempt: number): boolean {
    const run = state.running.get(attempt)
    if (run === undefined) return true
    const reason: unknown = run.controller.signal.reason
    return (
      run.controller.signal.aborted &&
      !(reason instanceof AttemptAbortedError && reason.reason === 'direct-connection')
    )
  }

  /** The running attempt (the newest), or the last one if it ended within the late window. */
  private attemptForConnection(state: PeerTrace): number | undefined {
    const running = [...state.running.keys()]
    if (running.length > 0) return Math.max(...running)
    const last = state.lastEnded
    if (last !== undefined && performance.now() - last.atMs <= this.lateConnectionWindow) return last.attempt
    return undefined
  }

  // ── attempts and traces ───────────────────────────────────────────────────────────────────

  private openAttempt(state: PeerTrace, directDial: boolean): RunningAttempt {
    // A newer hole punch dials the same 4-tuples: an older one still dialling must let go.
    for (const older of state.running.values()) {
      if (!directDial && older.phase === 'dialing') {
        older.controller.abort(new AttemptAbortedError('the remote started a newer attempt', 'superseded'))
      }
    }
    const controller = new AbortController()
    const n = state.nextAttempt++
    const timer = setTimeout(
      () => controller.abort(new AttemptTimeoutError(`no terminal event within ${this.attemptTimeout} ms`)),
      this.attemptTimeout,
    )
    const run: RunningAttempt = { n, controller, timer, phase: 'exchange', directDial }
    state.running.set(n, run)
    return run
  }

  private endAttempt(state: PeerTrace, run: RunningAttempt, reason: AttemptEndReason, error?: string): void {
    if (state.running.get(run.n) !== run) return
    clearTimeout(run.timer)
    state.running.delete(run.n)
    state.lastEnded = { attempt: run.n, atMs: performance.now() }
    if (!run.directDial) state.holePunchAttemptsEnded++
    this.emit(state, {
      type: 'attempt-ended',
      attempt: run.n,
      reason,
      ...(error !== undefined ? { error } : {}),
    })
  }

  private protocolError(state: PeerTrace, run: RunningAttempt, err: unknown): void {
    this.emit(state, {
      type: 'protocol-error',
      attempt: run.n,
      error: errorMessage(err),
      errorName: errorName(err),
    })
    this.endAttempt(state, run, 'protocol-error', errorMessage(err))
  }

  private abortPeer(state: PeerTrace): void {
    for (const run of state.running.values()) {
      run.controller.abort(new AttemptAbortedError('cancelled', 'cancelled'))
    }
    for (const controller of state.streams)
      controller.abort(new AttemptAbortedError('cancelled', 'cancelled'))
    for (const wake of state.waiters) wake()
  }

  private traceFor(peer: PeerId): PeerTrace {
    const key = peer.toString()
    let state = this.traces.get(key)
    if (state !== undefined) return state
    if (this.traces.size >= this.maxTraces) this.evictOne()
    state = {
      peer,
      events: [],
      dropped: 0,
      nextAttempt: 1,
      running: new Map(),
      streams: new Set(),
      holePunchAttemptsEnded: 0,
      refusedStreams: 0,
      waiters: new Set(),
    }
    this.traces.set(key, state)
    return state
  }

  /** Drops the oldest trace without running attempts (or the oldest, if all are busy). */
  private evictOne(): void {
    const states = [...this.traces.values()]
    const victim = states.find((state) => state.running.size === 0) ?? states[0]
    if (victim !== undefined) this.forget(victim)
  }

  private forget(state: PeerTrace): void {
    this.traces.delete(state.peer.toString())
    for (const old of this.detached)
      if (old.running.size === 0 && old.streams.size === 0) this.detached.delete(old)
    if (state.running.size > 0 || state.streams.size > 0) this.detached.add(state)
  }

  private emit(state: PeerTrace, partial: NewEvent): void {
    const event = { ...partial, timestamp: this.clock(), peer: state.peer } as TraceEvent
    // Past the cap only the events that decide an outcome are kept: a remote flooding us with
    // streams cannot turn a success into a timeout. They stay bounded with the attempts.
    if (state.events.length < this.maxEventsPerTrace || DECISIVE_EVENTS.has(event.type))
      state.events.push(event)
    else state.dropped++
    this.log.trace('%p %s %o', state.peer, event.type, event.attempt)
    this.dispatchDetail(event.type, event as never)
    this.dispatchDetail('trace', event)
    for (const wake of state.waiters) wake()
  }

  private nextChange(state: PeerTrace, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        state.waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined
      state.waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  private selectDialAddrs(addrs: Multiaddr[], peer: PeerId): Multiaddr[] {
    if (this.init.dialAddrs !== undefined) return this.init.dialAddrs(addrs, peer)
    const seen = new Set<string>()
    return addrs.filter((addr) => {
      const key = withoutPeerId(addr).toString()
      if (seen.has(key) || isRelayAddr(addr)) return false
      seen.add(key)
      return this.components.transportManager.dialTransportForMultiaddr(addr) !== undefined
    })
  }
}

/** The multiaddrs among `bytes`, and how many entries were not multiaddrs. */
function decodeAddrs(bytes: Uint8Array[]): { addrs: Multiaddr[]; invalid: number } {
  const addrs: Multiaddr[] = []
  let invalid = 0
  for (const entry of bytes) {
    try {
      addrs.push(parseMultiaddrBytes(entry))
    } catch {
      invalid++
    }
  }
  return { addrs, invalid }
}

/** The attempt-ended reason for an abort reason. */
function endReason(reason: unknown): AttemptEndReason {
  if (reason instanceof AttemptTimeoutError) return 'timeout'
  if (reason instanceof AttemptAbortedError) return reason.reason
  return 'cancelled'
}

function isCodecError(err: unknown): err is Error {
  return err instanceof MalformedMessageError || err instanceof MessageTooLargeError
}
