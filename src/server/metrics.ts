import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class ServerMetrics {
  readonly registry = new Registry()

  readonly rpcs = new Counter({
    name: 'punchr_server_rpcs_total',
    help: 'RPCs answered, by method and gRPC status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  })

  readonly rpcDuration = new Histogram({
    name: 'punchr_server_rpc_duration_seconds',
    help: 'RPC handling time, by method',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })

  readonly allocationDuration = new Histogram({
    name: 'punchr_server_allocation_query_seconds',
    help: 'Time of the GetAddrInfo allocation transaction',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })

  readonly results = new Counter({
    name: 'punchr_server_hole_punch_results_total',
    help: 'Hole punch results stored, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly duplicateReports = new Counter({
    name: 'punchr_server_duplicate_reports_total',
    help: 'Reports received again after they were stored (client retries); not stored twice',
    registers: [this.registry],
  })

  readonly normalisedQuirks = new Counter({
    name: 'punchr_server_normalised_quirks_total',
    help: 'Known quirks of old punchr clients normalised in stored reports, by quirk code',
    labelNames: ['quirk'] as const,
    registers: [this.registry],
  })

  readonly reportBatchSize = new Histogram({
    name: 'punchr_server_report_batch_size',
    help: 'Reports stored per transaction (group commit of TrackHolePunch)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  })

  readonly reportBatchSeconds = new Histogram({
    name: 'punchr_server_report_batch_seconds',
    help: 'Time to store one batch of reports, its transaction included',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })

  readonly reportBatchesSplit = new Counter({
    name: 'punchr_server_report_batches_split_total',
    help: 'Batches of reports that failed as a whole and were stored report by report',
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'punchr_server_' })
  }
}
