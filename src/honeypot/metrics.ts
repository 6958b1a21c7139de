// Prometheus metrics of one honeypot (its own registry, so that `punchr up` and tests can run
// a server and a honeypot side by side). Counters are fed by the recorder, the batch writer
// and the walker; gauges read their sources when scraped.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { WriterEvent } from './batch-writer.js'
import type { InboundResult } from './inbound.js'
import type { WalkReport } from './walker.js'

/** What the gauges read at scrape time. */
export interface GaugeSources {
  routingTableSize(): number
  connections(): { inbound: number; outbound: number }
  /** Events buffered or being written. */
  pendingEvents(): number
  /** Open inbound connections the recorder tracks. */
  trackedConnections(): number
  /** Candidates in the database (rejects while it is unavailable). */
  candidates(): Promise<number>
}

export class HoneypotMetrics {
  readonly registry = new Registry()

  readonly inbound = new Counter({
    name: 'punchr_honeypot_inbound_connections_total',
    help: 'Inbound connections by result: recorded (DCUtR, no public direct address), inferred (relay-only rust-libp2p that punches without listing DCUtR), not_dcutr, public, closed_before_identify, untracked',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly updates = new Counter({
    name: 'punchr_honeypot_identify_updates_total',
    help: 'Identify pushes on inbound connections that changed agent, protocols or addresses, by new result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly recorded = new Counter({
    name: 'punchr_honeypot_recorded_events_total',
    help: 'Connection events of qualifying peers stored in the database',
    registers: [this.registry],
  })

  readonly dropped = new Counter({
    name: 'punchr_honeypot_dropped_events_total',
    help: 'Connection events not stored, by reason: buffer_full, rejected (by the database), shutdown',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  readonly deduplicated = new Counter({
    name: 'punchr_honeypot_deduplicated_events_total',
    help: 'Events merged into a waiting event of the same peer, agent and protocols',
    registers: [this.registry],
  })

  readonly batches = new Counter({
    name: 'punchr_honeypot_write_batches_total',
    help: 'Database write attempts of event batches (one transaction each), by result: ok, unavailable',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly batchDuration = new Histogram({
    name: 'punchr_honeypot_write_batch_seconds',
    help: 'Time of one successful batch transaction',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })

  readonly walks = new Counter({
    name: 'punchr_honeypot_walks_total',
    help: 'Completed DHT walks, by result: ok, no_peers (no bootstrap peer reachable), failed',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly walkDuration = new Histogram({
    name: 'punchr_honeypot_walk_duration_seconds',
    help: 'Duration of one DHT walk',
    buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  })

  readonly walkPeers = new Counter({
    name: 'punchr_honeypot_walk_peers_contacted_total',
    help: 'Peers that answered a lookup of a walk (each walk counts its distinct peers)',
    registers: [this.registry],
  })

  constructor(sources: GaugeSources) {
    const registers = [this.registry]
    new Gauge({
      name: 'punchr_honeypot_routing_table_size',
      help: 'Peers in the DHT routing table',
      registers,
      collect() {
        this.set(sources.routingTableSize())
      },
    })
    new Gauge({
      name: 'punchr_honeypot_connections',
      help: 'Open connections, by direction',
      labelNames: ['direction'] as const,
      registers,
      collect() {
        const open = sources.connections()
        this.set({ direction: 'inbound' }, open.inbound)
        this.set({ direction: 'outbound' }, open.outbound)
      },
    })
    new Gauge({
      name: 'punchr_honeypot_pending_events',
      help: 'Connection events waiting for the database (buffered or being written)',
      registers,
      collect() {
        this.set(sources.pendingEvents())
      },
    })
    new Gauge({
      name: 'punchr_honeypot_tracked_connections',
      help: 'Open inbound connections tracked until identify',
      registers,
      collect() {
        this.set(sources.trackedConnections())
      },
    })
    new Gauge({
      name: 'punchr_honeypot_candidates',
      help: 'Remotes the server can hand out now (recorded within the last 10 minutes); kept while the database is unavailable',
      registers,
      async collect() {
        // A scrape during an outage still answers, with the last known value.
        const candidates = await sources.candidates().catch(() => undefined)
        if (candidates !== undefined) this.set(candidates)
      },
    })
    collectDefaultMetrics({ register: this.registry, prefix: 'punchr_honeypot_' })
  }

  onResult = (result: InboundResult, kind: 'connection' | 'update'): void => {
    ;(kind === 'connection' ? this.inbound : this.updates).inc({ result })
  }

  onWriterEvent = (event: WriterEvent): void => {
    if (event.type === 'written') {
      this.recorded.inc(event.count)
      this.batches.inc({ result: 'ok' })
      this.batchDuration.observe(event.seconds)
    } else if (event.type === 'unavailable') this.batches.inc({ result: 'unavailable' })
    else if (event.type === 'dropped') this.dropped.inc({ reason: event.reason }, event.count)
    else this.deduplicated.inc()
  }

  onWalk = (report: WalkReport): void => {
    this.walks.inc({ result: report.result })
    this.walkDuration.observe(report.seconds)
    this.walkPeers.inc(report.peersContacted)
  }
}
