// What the client is doing now and how its rounds went: the model behind the status page's
// /status.json (status-http.ts), the tray app that reads it, and the SIGUSR1 summary
// (status-summary.ts). It is fed by the events the client emits anyway (the round loop's, the
// report queue's and the tracer's) and keeps no single rounds, only counts per minute
// (status-counts.ts), so its memory stays bounded however long the client runs.
//
// /status.json is a contract with other programs: fields may be added, never renamed or removed
// (docs/CONFIG.md, "Status page").
import type { PeerId } from '@libp2p/interface'
import type { ClientState } from '../lib/client-state.js'
import { classifyMultiaddr, filterTransport, parseMultiaddrBytes } from '../lib/multiaddr.js'
import type { ClassifiedError } from './api-errors.js'
import type { QueueDepth, QueueEvent } from './report-queue.js'
import { short } from './round-log.js'
import type { LoopEvent } from './round-loop.js'
import { MinuteCounts, type OutcomeTally, tally } from './status-counts.js'
import type { TraceEvent } from './tracer/index.js'

export interface LastRound {
  finishedAt: string
  /** The round's overall outcome as the round log prints it (SUCCESS, FAILED, NO_CONNECTION, …). */
  outcome: string
  remoteId: string
  /** What identify told us the remote runs; null when it never said. */
  remoteAgent: string | null
  /** The protocol filter's transport, else the direct connection's; null when neither is known. */
  transport: string | null
  attempts: number
  durationMs: number
  /** The host (peer ID) that measured it. */
  host: string
  round: number
}

export interface StatusJson {
  version: string
  state: ClientState
  /** One line: what the client is doing right now. */
  detail: string
  startedAt: string
  /** The server the reports go to, as configured (--server). */
  server: string
  dashboardUrl: string | null
  /**
   * The dashboard's view of this key's results; carries the API key in its fragment. Null
   * without a dashboard, and in the answer to another user of the machine (status-http.ts).
   */
  myResultsUrl: string | null
  /** Where the API key is stored (`punchr login`); null when it was given by flag or environment. */
  apiKeyFile: string | null
  /** The hosts' peer IDs. */
  hosts: string[]
  lastRound: LastRound | null
  /** Since local midnight. */
  today: OutcomeTally
  /** The current minute and the 59 before it; `since` is the first minute's start. */
  lastHour: OutcomeTally & { since: string }
  /** Since the client started. */
  total: OutcomeTally
  queue: QueueDepth
  /** The last error the client met talking to the server (null after it recovered or before any). */
  lastError: { at: string; message: string } | null
  /** When this snapshot was taken. */
  now: string
}

export interface ClientStatusInit {
  version: string
  server: string
  dashboardUrl: string | null
  myResultsUrl: string | null
  apiKeyFile: string | null
  /** @default Date.now */
  now?: () => number
}

/** What the client does right now; the state follows from it. */
type Activity =
  | { kind: 'starting' }
  | { kind: 'asking' }
  | {
      kind: 'round'
      round: number
      host: string
      remote: string
      transport: string | undefined
      attempt: number | undefined
      direct: boolean
    }
  | { kind: 'no-remote'; until: number; resting: boolean }
  | { kind: 'api-error'; call: string; error: ClassifiedError; until: number }
  | { kind: 'paused'; reason: string }
  | { kind: 'stopping' }
  | { kind: 'stopped' }
  | { kind: 'failed'; message: string }

const STATE_OF: Record<Activity['kind'], ClientState> = {
  starting: 'starting',
  asking: 'measuring',
  round: 'measuring',
  'no-remote': 'waiting',
  'api-error': 'waiting',
  paused: 'waiting',
  stopping: 'stopping',
  stopped: 'stopped',
  failed: 'error',
}

/** Activities that loop events no longer change: the client is on its way out. */
const FINAL = new Set<Activity['kind']>(['stopping', 'stopped', 'failed'])

export class ClientStatus {
  private readonly now: () => number
  private readonly startedAt: number
  private activity: Activity = { kind: 'starting' }
  /** Hosts the server registered so far; a round or a wait for one ends the start. */
  private registered = 0
  private measuringBegan = false
  /** The hosts closed their connections for want of remotes; the next round wakes one. */
  private resting = false
  private hosts: string[] = []
  private lastRound: LastRound | null = null
  private readonly minutes = new MinuteCounts()
  private readonly totals: Record<string, number> = {}
  private queue: QueueDepth = { reports: 0, bytes: 0 }
  /** Why reports are not going out, while they are not (cleared by the next one sent). */
  private sendTrouble: ClassifiedError | undefined
  private lastError: { at: number; message: string } | undefined

  constructor(private readonly init: ClientStatusInit) {
    this.now = init.now ?? Date.now
    this.startedAt = this.now()
  }

  setHosts(peerIds: readonly string[]): void {
    this.hosts = [...peerIds]
  }

  onLoopEvent = (event: LoopEvent): void => {
    switch (event.type) {
      case 'registered':
        // Also mid-run: a host the server forgot (its database was reset) registers again.
        this.registered++
        this.lastError = undefined
        this.setActivity(this.measuringBegan ? { kind: 'asking' } : { kind: 'starting' })
        return
      case 'round-started':
        this.measuringBegan = true
        this.lastError = undefined
        this.setActivity({
          kind: 'round',
          round: event.round,
          host: event.host.toString(),
          remote: event.target.remote.toString(),
          transport: filterTransport(event.target.protocols),
          attempt: undefined,
          direct: false,
        })
        return
      case 'round-finished':
        this.recordRound(event)
        this.setActivity({ kind: 'asking' })
        return
      case 'round-failed':
        this.lastError = { at: this.now(), message: `a round failed without a result: ${event.error}` }
        this.setActivity({ kind: 'asking' })
        return
      case 'no-remote':
        this.measuringBegan = true
        this.lastError = undefined
        this.setActivity({ kind: 'no-remote', until: this.now() + event.waitMs, resting: this.resting })
        return
      case 'rested':
        this.resting = true
        return
      case 'woke':
        // The hosts wake one by one, each before its round; the status speaks of the client,
        // which rests on while the host that was to measure could not reconnect.
        if (event.error === undefined) {
          this.resting = false
          return
        }
        this.lastError = {
          at: this.now(),
          message: `a resting host could not reconnect for its round: ${event.error}`,
        }
        return
      case 'api-error':
        this.lastError = { at: this.now(), message: `${event.call}: ${describeError(event.error)}` }
        this.setActivity({
          kind: 'api-error',
          call: event.call,
          error: event.error,
          until: this.now() + event.waitMs,
        })
        return
      case 'paused':
        this.setActivity({ kind: 'paused', reason: event.reason })
        return
      case 'resumed':
        this.setActivity({ kind: 'asking' })
        return
    }
  }

  onQueueEvent = (event: QueueEvent): void => {
    if ('depth' in event) this.queue = { ...event.depth }
    if (event.type === 'sent') this.sendTrouble = undefined
    else if (event.type === 'retry') {
      this.sendTrouble = event.error
      this.lastError = { at: this.now(), message: `sending a report: ${describeError(event.error)}` }
    } else if (event.type === 'rejected') {
      this.lastError = {
        at: this.now(),
        message: `the server rejected a report: ${describeError(event.error)}`,
      }
    }
  }

  /** The tracer's events of the hosts: which attempt of the running round is on. */
  onTraceEvent = (host: PeerId | string, event: TraceEvent): void => {
    const activity = this.activity
    if (activity.kind !== 'round') return
    if (host.toString() !== activity.host || event.peer.toString() !== activity.remote) return
    if ('attempt' in event && typeof event.attempt === 'number' && event.type !== 'direct-connection')
      activity.attempt = Math.max(activity.attempt ?? 0, event.attempt)
    if (event.type === 'direct-connection') activity.direct = true
  }

  /** The client was asked to stop: the running round ends CANCELLED, queued reports get a last try. */
  stopping(): void {
    if (this.activity.kind !== 'failed' && this.activity.kind !== 'stopped')
      this.activity = { kind: 'stopping' }
  }

  stopped(): void {
    if (this.activity.kind !== 'failed') this.activity = { kind: 'stopped' }
  }

  /** The client cannot go on (the server refused the key, no host could bootstrap, …). */
  failed(message: string): void {
    this.activity = { kind: 'failed', message }
    this.lastError = { at: this.now(), message }
  }

  get state(): ClientState {
    return STATE_OF[this.activity.kind]
  }

  snapshot(): StatusJson {
    const now = this.now()
    return {
      version: this.init.version,
      state: this.state,
      detail: this.detail(now),
      startedAt: new Date(this.startedAt).toISOString(),
      server: this.init.server,
      dashboardUrl: this.init.dashboardUrl,
      myResultsUrl: this.init.myResultsUrl,
      apiKeyFile: this.init.apiKeyFile,
      hosts: [...this.hosts],
      lastRound: this.lastRound === null ? null : { ...this.lastRound },
      today: this.minutes.tallySince(MinuteCounts.startOfDay(now), now),
      lastHour: {
        ...this.minutes.tallySince(MinuteCounts.startOfLastHour(now), now),
        since: new Date(MinuteCounts.startOfLastHour(now)).toISOString(),
      },
      total: tally({ ...this.totals }),
      queue: { ...this.queue },
      lastError:
        this.lastError === undefined
          ? null
          : { at: new Date(this.lastError.at).toISOString(), message: this.lastError.message },
      now: new Date(now).toISOString(),
    }
  }

  private setActivity(next: Activity): void {
    if (FINAL.has(this.activity.kind)) return
    this.activity = next
  }

  private recordRound(event: Extract<LoopEvent, { type: 'round-finished' }>): void {
    const at = this.now()
    const { result, target } = event
    this.minutes.add(result.outcome, at)
    this.totals[result.outcome] = (this.totals[result.outcome] ?? 0) + 1
    const remoteBytes = target.remote.toMultihash().bytes
    const agent = result.report.latencyMeasurements.find(
      (m) => m.agentVersion !== '' && bytesEqual(m.remoteId, remoteBytes),
    )?.agentVersion
    this.lastRound = {
      finishedAt: new Date(at).toISOString(),
      outcome: result.outcome,
      remoteId: target.remote.toString(),
      remoteAgent: agent ?? null,
      transport:
        filterTransport(target.protocols) ?? directTransport(result.report.openMultiAddresses) ?? null,
      attempts: result.attempts.length,
      durationMs: Math.round(result.durationMs),
      host: event.host.toString(),
      round: event.round,
    }
  }

  /** Says what the state does not: the state is shown beside it. */
  private detail(now: number): string {
    const a = this.activity
    const seconds = (until: number) => `${Math.max(0, Math.ceil((until - now) / 1000))} s`
    const sending = this.sendingNote()
    switch (a.kind) {
      case 'starting':
        return this.registered === 0
          ? 'learning our addresses from the bootstrap peers, then registering with the server'
          : `${this.registered} host(s) registered with the server`
      case 'asking':
        return `asking the server for a remote to punch${this.lastRound === null ? '' : ` (last round: ${this.lastRound.outcome})`}${sending}`
      case 'round': {
        const over = a.transport === undefined ? 'over any transport' : `over ${a.transport.toUpperCase()}`
        const what = a.direct
          ? `connected directly to ${short(a.remote)}${a.attempt === undefined ? '' : ` on attempt ${a.attempt}`}; measuring latency`
          : a.attempt === undefined
            ? `connecting to ${short(a.remote)} through its relay, then punching ${over}`
            : `punching ${short(a.remote)} ${over}, attempt ${a.attempt}`
        return `round ${a.round}: ${what}${sending}`
      }
      case 'no-remote':
        return `no remote ready on the server${a.resting ? ' (hosts resting: their connections are closed until the next round)' : ''}; next ask in ${seconds(a.until)}${sending}`
      case 'api-error':
        return `${describeError(a.error)} (${a.call}); retrying in ${seconds(a.until)}; ${this.queue.reports} report(s) queued`
      case 'paused':
        return `the report queue is full (${a.reason}); measuring resumes once the server takes reports`
      case 'stopping':
        return `ending the running round and sending the queued reports (${this.queue.reports} queued)`
      case 'stopped':
        return this.queue.reports === 0
          ? 'every report was sent'
          : `${this.queue.reports} report(s) stay queued for the next start`
      case 'failed':
        return a.message
    }
  }

  private sendingNote(): string {
    if (this.sendTrouble === undefined || this.queue.reports === 0) return ''
    return `; reports not sent: ${describeError(this.sendTrouble)}, ${this.queue.reports} queued`
  }
}

/** Codes of a server that cannot be reached (gRPC codes by name, Node.js errnos). */
const UNREACHABLE = new Set(['Unavailable', 'DeadlineExceeded', 'Aborted', 'Canceled'])

function describeError(error: ClassifiedError): string {
  if (UNREACHABLE.has(error.code) || /^E[A-Z]+$/.test(error.code)) return `server unreachable (${error.code})`
  return `the server answered ${error.code}: ${error.message}`
}

/** The transport of the first direct (not relayed) connection open at the end of a round. */
function directTransport(addrs: readonly Uint8Array[]): string | undefined {
  for (const bytes of addrs) {
    try {
      const addr = classifyMultiaddr(parseMultiaddrBytes(bytes))
      // In the filter's words (tcp, quic): a report should not say quic here and quic-v1 there.
      if (!addr.isRelay && addr.transport !== null)
        return addr.transport.startsWith('quic') ? 'quic' : addr.transport
    } catch {
      // Our own report's addresses decode; a bad one just says nothing about the transport.
    }
  }
  return undefined
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
