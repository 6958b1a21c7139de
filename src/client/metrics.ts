// The client's Prometheus metrics and the loopback HTTP server that serves them (docs/PROTOCOL.md, "Processes, ports and files":
// 127.0.0.1:12001): rounds by outcome, attempts by outcome, round duration, and the report
// queue (depth, sent, rejected, retries). The same server carries the status page
// (status-http.ts), and answers only requests that name a loopback host; the API key in the
// status goes only to our own user's processes.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { QueueEvent } from './report-queue.js'
import type { LoopEvent } from './round-loop.js'
import { type OwnUserCheck, refuseForeignHost, type StatusSource, serveStatus } from './status-http.js'

/** Sampling interval of punchr_client_nodejs_eventloop_lag_*. */
const EVENT_LOOP_LAG_RESOLUTION_MS = 1_000

export class ClientMetrics {
  readonly registry = new Registry()

  readonly rounds = new Counter({
    name: 'punchr_client_rounds_total',
    help: 'Measurement rounds finished, by overall outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly attempts = new Counter({
    name: 'punchr_client_hole_punch_attempts_total',
    help: 'Hole punch attempts, by attempt outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly roundDuration = new Histogram({
    name: 'punchr_client_round_duration_seconds',
    help: 'From the relayed dial to the end of the round (pings included)',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    registers: [this.registry],
  })

  readonly queueReports = new Gauge({
    name: 'punchr_client_report_queue_reports',
    help: 'Reports on disk waiting for the server',
    registers: [this.registry],
  })

  readonly queueBytes = new Gauge({
    name: 'punchr_client_report_queue_bytes',
    help: 'Bytes of the reports waiting for the server',
    registers: [this.registry],
  })

  readonly reports = new Counter({
    name: 'punchr_client_reports_total',
    help: 'Reports by what became of them: queued, sent (accepted), rejected (set aside), retried',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly apiErrors = new Counter({
    name: 'punchr_client_api_errors_total',
    help: 'Failed Register/GetAddrInfo calls that were retried, by call and code',
    labelNames: ['call', 'code'] as const,
    registers: [this.registry],
  })

  readonly noRemote = new Counter({
    name: 'punchr_client_no_remote_total',
    help: 'GetAddrInfo answers NOT_FOUND (no remote to measure)',
    registers: [this.registry],
  })

  readonly hostRests = new Counter({
    name: 'punchr_client_host_rests_total',
    help: 'Hosts that closed their connections because there was nothing to measure',
    registers: [this.registry],
  })

  readonly hostWakes = new Counter({
    name: 'punchr_client_host_wakes_total',
    help: 'Resting hosts that reconnected for a round (ok), or could not and skipped it (failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly refusedPunchTargets = new Counter({
    name: 'punchr_client_refused_punch_targets_total',
    help: "Remotes' CONNECT addresses not dialled, by reason (private, infrastructure, too-many, …)",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  constructor() {
    // The event-loop lag histogram samples with a libuv timer; prom-client's 10 ms default
    // woke the idle client 100 times a second (docs/FOOTPRINT.md). Once a second still shows
    // a loop that falls behind.
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'punchr_client_',
      eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS,
    })
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
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType })
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
