// The client's Prometheus metrics and the loopback HTTP server that serves them (docs/PROTOCOL.md, "Processes, ports and files":
// 127.0.0.1:12001): rounds by outcome, attempts by outcome, round duration, and the report
// queue (depth, sent, rejected, retries). The same server carries the status page
// (status-http.ts), and answers only requests that name a loopback host; the API key in the
// status goes only to our own user's processes.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import {
  Counter,
  Gauge,
  Histogram,
  type Metric,
  PROMETHEUS_CONTENT_TYPE,
  renderMetrics,
} from './prometheus-text.js'
import type { QueueEvent } from './report-queue.js'
import type { LoopEvent } from './round-loop.js'
import { type OwnUserCheck, refuseForeignHost, type StatusSource, serveStatus } from './status-http.js'

/** Sampling interval of punchr_client_nodejs_eventloop_lag_*. */
const EVENT_LOOP_LAG_RESOLUTION_MS = 1_000

export class ClientMetrics {
  /** Every metric below, in the order /metrics shows them. */
  private readonly own: Metric[] = []

  readonly rounds = this.register(
    new Counter('punchr_client_rounds_total', 'Measurement rounds finished, by overall outcome', ['outcome']),
  )

  readonly attempts = this.register(
    new Counter('punchr_client_hole_punch_attempts_total', 'Hole punch attempts, by attempt outcome', [
      'outcome',
    ]),
  )

  readonly roundDuration = this.register(
    new Histogram(
      'punchr_client_round_duration_seconds',
      'From the relayed dial to the end of the round (pings included)',
      [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    ),
  )

  readonly queueReports = this.register(
    new Gauge('punchr_client_report_queue_reports', 'Reports on disk waiting for the server'),
  )

  readonly queueBytes = this.register(
    new Gauge('punchr_client_report_queue_bytes', 'Bytes of the reports waiting for the server'),
  )

  readonly reports = this.register(
    new Counter(
      'punchr_client_reports_total',
      'Reports by what became of them: queued, sent (accepted), rejected (set aside), retried',
      ['result'],
    ),
  )

  readonly apiErrors = this.register(
    new Counter(
      'punchr_client_api_errors_total',
      'Failed Register/GetAddrInfo calls that were retried, by call and code',
      ['call', 'code'],
    ),
  )

  readonly noRemote = this.register(
    new Counter('punchr_client_no_remote_total', 'GetAddrInfo answers NOT_FOUND (no remote to measure)'),
  )

  readonly hostRests = this.register(
    new Counter(
      'punchr_client_host_rests_total',
      'Hosts that closed their connections because there was nothing to measure',
    ),
  )

  readonly hostWakes = this.register(
    new Counter(
      'punchr_client_host_wakes_total',
      'Resting hosts that reconnected for a round (ok), or could not and skipped it (failed)',
      ['result'],
    ),
  )

  readonly refusedPunchTargets = this.register(
    new Counter(
      'punchr_client_refused_punch_targets_total',
      "Remotes' CONNECT addresses not dialled, by reason (private, infrastructure, too-many, …)",
      ['reason'],
    ),
  )

  /** The process figures (CPU, memory, event loop), from prom-client once /metrics is asked for. */
  private processMetrics: Promise<Registry> | undefined

  private register<M extends Metric>(metric: M): M {
    this.own.push(metric)
    return metric
  }

  /** The whole exposition: the client's metrics, then the process's. */
  async text(): Promise<string> {
    this.processMetrics ??= loadProcessMetrics()
    const own = renderMetrics(this.own)
    return own + (await (await this.processMetrics).metrics())
  }

  onLoopEvent = (event: LoopEvent): void => {
    if (event.type === 'round-finished') {
      this.rounds.inc({ outcome: event.result.outcome })
      for (const attempt of event.result.attempts) this.attempts.inc({ outcome: attempt.outcome })
      this.roundDuration.observe(event.result.durationMs / 1000)
      for (const [reason, count] of Object.entries(event.result.refusedPunchTargets))
        this.refusedPunchTargets.inc({ reason }, count)
    } else if (event.type === 'api-error') {
      this.apiErrors.inc({ call: event.call, code: event.error.code })
    } else if (event.type === 'no-remote') {
      this.noRemote.inc()
    } else if (event.type === 'rested') {
      this.hostRests.inc(event.hosts)
    } else if (event.type === 'woke') {
      this.hostWakes.inc({ result: event.error === undefined ? 'ok' : 'failed' })
    }
  }

  onQueueEvent = (event: QueueEvent): void => {
    if (event.type === 'retry') {
      this.reports.inc({ result: 'retried' })
      return
    }
    if (event.type === 'queued' || event.type === 'sent' || event.type === 'rejected') {
      this.reports.inc({ result: event.type })
    }
    if ('depth' in event) {
      this.queueReports.set(event.depth.reports)
      this.queueBytes.set(event.depth.bytes)
    }
  }
}

/**
 * prom-client's default metrics under the client's prefix. Their event-loop lag histogram
 * samples with a libuv timer from now on; prom-client's 10 ms default woke the idle client 100
 * times a second (docs/FOOTPRINT.md), once a second still shows a loop that falls behind.
 */
async function loadProcessMetrics(): Promise<Registry> {
  const { collectDefaultMetrics, Registry } = await import('prom-client')
  const registry = new Registry()
  collectDefaultMetrics({
    register: registry,
    prefix: 'punchr_client_',
    eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS,
  })
  return registry
}

export interface MetricsServer {
  readonly port: number
  close(): Promise<void>
}

/**
 * Serves `/metrics` and `/healthz`, and with `status` the status page (`/`, `/status.json`),
 * on host:port; port 0 picks one. `ownUser` tells our user's requests (default: by the peer
 * socket's uid; tests stand in for another user with it).
 */
export async function serveMetrics(
  metrics: ClientMetrics,
  host: string,
  port: number,
  status?: StatusSource,
  ownUser?: OwnUserCheck,
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (refuseForeignHost(req, res)) return
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (status !== undefined && serveStatus(path, req, res, status, ownUser)) return
    if (path === '/metrics') {
      metrics.text().then(
        (body) => {
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE })
          res.end(body)
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' })
          res.end(`${err instanceof Error ? err.message : String(err)}\n`)
        },
      )
      return
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"status":"ok"}')
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
