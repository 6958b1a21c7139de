// The measurement loop: registers every host, then round after round asks the server for a
// remote (GetAddrInfo), lets the next host in rotation measure it (round.ts), and queues the
// report on disk (report-queue.ts), which sends it in the background. Rotating hosts keeps
// the NAT mapping of one punch from helping the next punch of the same remote (docs/PROTOCOL.md, "The round").
import { toBinary } from '@bufbuild/protobuf'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { GetAddrInfoResponse } from '../gen/punchr_pb.js'
import { TrackHolePunchRequestSchema } from '../gen/punchr_pb.js'
import type { Logger } from '../lib/logger.js'
import { parseMultiaddrBytes } from '../lib/multiaddr.js'
import { parsePeerIdBytes } from '../lib/peer-id.js'
import type { ApiClient } from './api-client.js'
import { type ClassifiedError, classifyApiError } from './api-errors.js'
import { type BackoffOptions, backoffDelay, CuttableWait, sleep as realSleep, type Sleep } from './backoff.js'
import { API_RETRY_INITIAL_MS, API_RETRY_MAX_MS, NOT_FOUND_WAIT_MS } from './constants.js'
import { ApiError, Code } from './grpc-call.js'
import type { MeasuringHost } from './host.js'
import type { ReportQueue } from './report-queue.js'
import { type RoundOptions, type RoundResult, type RoundTarget, runRound } from './round.js'

export type LoopEvent =
  | { type: 'registered'; host: PeerId }
  | { type: 'round-started'; round: number; host: PeerId; target: RoundTarget }
  | {
      type: 'round-finished'
      round: number
      host: PeerId
      target: RoundTarget
      result: RoundResult
      queued: string
    }
  | { type: 'round-failed'; remote: PeerId; error: string }
  | { type: 'no-remote'; waitMs: number }
  /** Hosts that went to rest (MeasuringHost.rest): the client had nothing to measure for a while. */
  | { type: 'rested'; hosts: number }
  /** A resting host reconnected for its round, in `ms`; with `error` it could not, and the round was skipped. */
  | { type: 'woke'; host: PeerId; ms: number; error?: string }
  | { type: 'api-error'; call: 'Register' | 'GetAddrInfo'; error: ClassifiedError; waitMs: number }
  | { type: 'paused'; reason: string }
  | { type: 'resumed' }

export interface RoundLoopOptions {
  hosts: readonly MeasuringHost[]
  api: Pick<ApiClient, 'register' | 'getAddrInfo'>
  queue: Pick<ReportQueue, 'enqueue' | 'fullReason' | 'waitForSpace'>
  apiKey: string
  agentVersion: string
  /** Rounds to run; 0 = until stopped. */
  rounds: number
  /** After NOT_FOUND. @default 30 s */
  notFoundWait?: number
  /**
   * Nothing to measure for this long (NOT_FOUND or GetAddrInfo failing, the waits in between
   * counted): the hosts rest until their next round (MeasuringHost.rest). @default never
   */
  restAfterIdle?: number
  /** Register/GetAddrInfo retries on transient errors. @default 1 s doubling to 30 s */
  retry?: BackoffOptions
  /** Passed to every round. */
  round?: Omit<RoundOptions, 'apiKey' | 'signal' | 'log'>
  sleep?: Sleep
  onEvent?: (event: LoopEvent) => void
  log?: Logger
}

/** The log lines of a rest and of a wake (the lab and the client benchmark count them). */
export const RESTED_MESSAGE =
  'nothing to measure for a while: the hosts close their connections until their next round'
export const WOKE_MESSAGE = 'resting host reconnected for its round'

/** An API error no retry will fix (e.g. an unknown API key): the client cannot measure. */
export class FatalApiError extends Error {
  override readonly name = 'FatalApiError'
}

export class RoundLoop {
  private readonly sleep: Sleep
  private readonly retry: BackoffOptions
  private apiFailures = 0
  private next = 0
  private finished = 0
  /** Time spent waiting for a remote since the last one the server handed out. */
  private idleMs = 0
  /** The wait after a failed Register or GetAddrInfo, which retryNow ends. */
  private readonly apiFailureWait: CuttableWait

  constructor(private readonly options: RoundLoopOptions) {
    if (options.hosts.length === 0) throw new RangeError('the round loop needs at least one host')
    this.sleep = options.sleep ?? realSleep
    this.apiFailureWait = new CuttableWait(this.sleep)
    this.retry = options.retry ?? { initial: API_RETRY_INITIAL_MS, max: API_RETRY_MAX_MS }
  }

  /** Rounds finished so far. */
  get rounds(): number {
    return this.finished
  }

  /** Registers every host; retries transient errors until `signal` aborts. */
  async registerAll(signal: AbortSignal): Promise<void> {
    for (const host of this.options.hosts) await this.register(host, signal)
  }

  /** Runs rounds until `options.rounds` are done or `signal` aborts (the running round then reports CANCELLED). */
  async run(signal: AbortSignal): Promise<void> {
    const { rounds } = this.options
    while (!signal.aborted && (rounds === 0 || this.finished < rounds)) {
      const full = this.options.queue.fullReason()
      if (full !== undefined) {
        // Never drop a result: stop producing them until the server has taken some.
        this.options.log?.warn({ reason: full }, 'report queue full: measuring paused until reports are sent')
        this.emit({ type: 'paused', reason: full })
        await this.options.queue.waitForSpace(signal)
        if (!signal.aborted) this.emit({ type: 'resumed' })
        continue
      }
      const host = this.options.hosts[this.next % this.options.hosts.length]!
      const target = await this.allocate(host, signal)
      if (target === undefined) continue
      if (host.resting && !(await this.wake(host, signal))) {
        this.next++
        continue
      }
      try {
        await this.measure(host, target, signal)
      } catch (err) {
        if (err instanceof FatalApiError) throw err
        // A bug, not a measurement: say so loudly, clean up, and let the next host go on.
        this.options.log?.error({ err, remote: target.remote.toString() }, 'round failed without a result')
        this.emit({
          type: 'round-failed',
          remote: target.remote,
          error: err instanceof Error ? err.message : String(err),
        })
        await host.prune(target.remote)
        host.tracer.clear(target.remote)
        await this.sleep(this.retry.initial, signal)
      }
      this.next++
    }
  }

  private async measure(host: MeasuringHost, target: RoundTarget, signal: AbortSignal): Promise<void> {
    const round = this.finished + 1
    this.emit({ type: 'round-started', round, host: host.peerId, target })
    await host.prune(target.remote)
    let result: RoundResult
    try {
      result = await runRound(host, target, {
        ...this.options.round,
        apiKey: this.options.apiKey,
        signal,
        ...(this.options.log === undefined ? {} : { log: this.options.log }),
      })
    } finally {
      host.punchAddrs.end()
    }
    const queued = await this.enqueue(toBinary(TrackHolePunchRequestSchema, result.report), signal)
    await host.prune(target.remote)
    host.tracer.clear(target.remote)
    this.finished = round
    this.emit({ type: 'round-finished', round, host: host.peerId, target, result, queued })
  }

  /**
   * Puts the report on disk. The loop checked for space before the round; a failing disk is
   * retried, also while stopping, since the report exists nowhere else.
   */
  private async enqueue(report: Uint8Array, signal: AbortSignal): Promise<string> {
    for (let failures = 1; ; failures++) {
      try {
        return await this.options.queue.enqueue(report)
      } catch (err) {
        const waitMs = backoffDelay(failures, this.retry)
        this.options.log?.error({ err, waitMs }, 'could not queue the report; retrying')
        if (signal.aborted && failures >= 3) {
          // Out of time and out of disk: the log is the last place the result can go.
          this.options.log?.fatal(
            { report: Buffer.from(report).toString('base64') },
            'report could not be stored; its bytes are in this log line',
          )
          throw err
        }
        await this.sleep(waitMs, signal.aborted ? undefined : signal)
        if (!signal.aborted) await this.options.queue.waitForSpace(signal)
      }
    }
  }

  /** GetAddrInfo for `host`; undefined after a wait (no remote, transient error). */
  private async allocate(host: MeasuringHost, signal: AbortSignal): Promise<RoundTarget | undefined> {
    let response: GetAddrInfoResponse
    try {
      response = await this.options.api.getAddrInfo(
        {
          hostId: host.peerId.toMultihash().bytes,
          allHostIds: this.options.hosts.map((h) => h.peerId.toMultihash().bytes),
          apiKey: this.options.apiKey,
        },
        signal,
      )
    } catch (err) {
      if (signal.aborted) return undefined
      if (err instanceof ApiError && err.code === Code.NotFound) {
        const waitMs = this.options.notFoundWait ?? NOT_FOUND_WAIT_MS
        this.restIfIdle()
        this.emit({ type: 'no-remote', waitMs })
        this.options.log?.info({ waitMs }, 'no remote to measure right now; waiting')
        await this.idleFor(waitMs, signal)
        return undefined
      }
      if (err instanceof ApiError && err.code === Code.FailedPrecondition) {
        // The server does not know the host (e.g. its database was reset): register again.
        this.options.log?.warn(
          { host: host.peerId.toString(), err: err.rawMessage },
          'host unknown to the server',
        )
        await this.register(host, signal)
        return undefined
      }
      await this.apiFailed('GetAddrInfo', err, signal)
      return undefined
    }
    this.apiFailures = 0
    this.idleMs = 0
    try {
      return parseTarget(response, this.options.log)
    } catch (err) {
      await this.apiFailed('GetAddrInfo', err, signal)
      return undefined
    }
  }

  /**
   * Puts the hosts to rest once the waits without a remote (NOT_FOUND, an unreachable server)
   * add up to restAfterIdle.
   */
  private restIfIdle(): void {
    const restAfter = this.options.restAfterIdle
    if (restAfter === undefined || this.idleMs < restAfter) return
    const awake = this.options.hosts.filter((h) => !h.resting)
    if (awake.length === 0) return
    for (const host of awake) host.rest()
    this.emit({ type: 'rested', hosts: awake.length })
    this.options.log?.info({ hosts: awake.length, idleMs: this.idleMs }, RESTED_MESSAGE)
  }

  /**
   * Reconnects a resting host before its round. False when it could not learn its observed
   * address: without one our CONNECT would offer no public address, and the round would blame
   * hole punching for it. The remote is then left for a later round.
   */
  private async wake(host: MeasuringHost, signal: AbortSignal): Promise<boolean> {
    const started = performance.now()
    let error: string | undefined
    try {
      const result = await host.wake(signal)
      if (result !== undefined && result.observed.length === 0)
        error = 'identify told it no observed address in time'
    } catch (err) {
      error = err instanceof Error ? err.message : String(err)
    }
    if (signal.aborted) return false
    const ms = Math.round(performance.now() - started)
    this.emit({ type: 'woke', host: host.peerId, ms, ...(error === undefined ? {} : { error }) })
    if (error === undefined) {
      this.options.log?.info({ host: host.peerId.toString(), ms }, WOKE_MESSAGE)
      return true
    }
    this.options.log?.warn(
      { host: host.peerId.toString(), ms, err: error },
      'a resting host could not reconnect to the bootstrap peers; its remote is left for a later round',
    )
    await this.sleep(this.retry.initial, signal)
    return false
  }

  private async register(host: MeasuringHost, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.options.api.register(
          {
            clientId: host.peerId.toMultihash().bytes,
            agentVersion: this.options.agentVersion,
            protocols: host.node.getProtocols(),
            apiKey: this.options.apiKey,
          },
          signal,
        )
        this.apiFailures = 0
        this.emit({ type: 'registered', host: host.peerId })
        return
      } catch (err) {
        if (signal.aborted) return
        await this.apiFailed('Register', err, signal)
      }
    }
  }

  /** Sleeps `waitMs` without a remote to measure. */
  private async idleFor(waitMs: number, signal: AbortSignal): Promise<void> {
    await this.sleep(waitMs, signal)
    this.idleMs += waitMs
  }

  /**
   * Ends the wait after a failed Register or GetAddrInfo: the server was just heard from
   * (the report queue got an answer), so the next call need not wait out a backoff that grew
   * during an outage. Waits for a remote (NOT_FOUND) are left alone.
   */
  retryNow(): void {
    this.apiFailureWait.cut()
  }

  /** Waits out a transient failure; throws FatalApiError for a permanent one. */
  private async apiFailed(
    call: 'Register' | 'GetAddrInfo',
    err: unknown,
    signal: AbortSignal,
  ): Promise<void> {
    const error = classifyApiError(err)
    if (error.kind === 'permanent') {
      throw new FatalApiError(`${call} refused (${error.code}): ${error.message}`, { cause: err })
    }
    this.apiFailures++
    const waitMs = backoffDelay(this.apiFailures, this.retry)
    // An unreachable server is nothing to measure too: the hosts may rest through its outage.
    if (call === 'GetAddrInfo') this.restIfIdle()
    this.options.log?.warn({ call, code: error.code, err: error.message, waitMs }, `${call} failed; retrying`)
    this.emit({ type: 'api-error', call, error, waitMs })
    const started = performance.now()
    const cut = await this.apiFailureWait.wait(waitMs, signal)
    // A wait cut short was idle only for as long as it lasted.
    if (call === 'GetAddrInfo') this.idleMs += cut ? performance.now() - started : waitMs
  }

  private emit(event: LoopEvent): void {
    this.options.onEvent?.(event)
  }
}

/** The remote and its relay addresses from a GetAddrInfo answer; bad addresses are skipped. */
export function parseTarget(response: GetAddrInfoResponse, log?: Logger): RoundTarget {
  const remote = peerIdFromString(parsePeerIdBytes(response.remoteId))
  const relayAddrs: Multiaddr[] = []
  for (const bytes of response.multiAddresses) {
    try {
      relayAddrs.push(parseMultiaddrBytes(bytes))
    } catch (err) {
      log?.warn({ err, remote: remote.toString() }, 'GetAddrInfo sent an invalid multiaddr; skipped')
    }
  }
  return { remote, relayAddrs, protocols: [...response.protocols] }
}
