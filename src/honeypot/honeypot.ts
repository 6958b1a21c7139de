// The honeypot (docs/HONEYPOT.md) as one object: a DHT-server node that walks the DHT so that peers
// find it, records the qualifying peers that connect to it through a batch writer, and serves
// /metrics and /healthz. `punchr honeypot` and `punchr up` (src/cli/) build it from flags and
// hand it an open, migrated database; tests build it from literals.
import { KEEP_ALIVE, type Libp2p, type PeerId, type PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type ConnectionEvent, countCandidates, recordConnectionEvents } from '../db/connection-events.js'
import type { Database } from '../db/database.js'
import type { GeoResolver } from '../db/multi-addresses.js'
import { type Logger, logger } from '../lib/logger.js'
import { loadQuicTransport } from '../quic/availability.js'
import { BatchWriter } from './batch-writer.js'
import {
  DEFAULT_INBOUND_RATE_PER_IP,
  DEFAULT_MAX_PENDING_INBOUND,
  KAD_PEER_TAG,
  STOP_FLUSH_TIMEOUT,
  WRITE_BATCH_SIZE,
  WRITE_BUFFER_MAX,
  WRITE_INTERVAL,
  WRITE_RETRY_INITIAL,
  WRITE_RETRY_MAX,
} from './constants.js'
import { Heartbeat } from './heartbeat.js'
import { type HttpEndpoint, json, serveRoutes } from './http.js'
import { InboundRecorder } from './inbound.js'
import { HoneypotMetrics } from './metrics.js'
import { createHoneypotNode, type HoneypotServices } from './node.js'
import { DhtWalker } from './walker.js'

export interface HoneypotConfig {
  privateKey: PrivateKey
  /** The punchr version: the agent version is `punchr/honeypot/<version>`. */
  version: string
  /** Address of the libp2p listener and of /metrics. */
  listenHost: string
  /** An IPv6 address to listen on as well (TCP); '' = none. */
  listenHost6?: string
  port: number
  httpPort: number
  /** Extra addresses to advertise. */
  announce: readonly Multiaddr[]
  /** Where walks start; none = no walking. */
  bootstrapPeers: readonly Multiaddr[]
  /** Pause between walks, ms. */
  walkInterval: number
  maxConnections: number
}

/** Knobs for tests and the lab; production uses the defaults of constants.ts. */
export interface HoneypotTuning {
  inboundRatePerIp?: number
  maxPendingInbound?: number
  /** Keep private addresses in the DHT (loopback tests). */
  privateDht?: boolean
  writeBatchSize?: number
  writeInterval?: number
  writeBufferMax?: number
  writeRetryInitial?: number
  lookupTimeout?: number
  bootstrapTimeout?: number
}

export interface HoneypotDeps {
  /** Open and migrated; the honeypot does not close it. */
  db: Database
  geo: GeoResolver
  log?: Logger
  tuning?: HoneypotTuning
}

export class Honeypot {
  readonly metrics: HoneypotMetrics
  private readonly recorder: InboundRecorder
  private readonly writer: BatchWriter<ConnectionEvent>
  private readonly walker: DhtWalker | undefined
  private readonly heartbeat: Heartbeat
  private readonly log: Logger
  private http: HttpEndpoint | undefined
  private stopped: Promise<void> | undefined

  private constructor(
    readonly node: Libp2p<HoneypotServices>,
    private readonly config: HoneypotConfig,
    private readonly deps: HoneypotDeps,
  ) {
    const tuning = deps.tuning ?? {}
    this.log = deps.log ?? logger('honeypot')
    this.metrics = new HoneypotMetrics({
      routingTableSize: () => node.services.dht.routingTable.size,
      connections: () => {
        const open = node.getConnections()
        const inbound = open.filter((c) => c.direction === 'inbound').length
        return { inbound, outbound: open.length - inbound }
      },
      pendingEvents: () => this.writer.pending,
      trackedConnections: () => this.recorder.size,
      candidates: () => countCandidates(deps.db),
    })
    this.writer = new BatchWriter({
      write: async (batch) => {
        await deps.db.transaction((tx) => recordConnectionEvents(tx, batch, deps.geo))
      },
      // A peer connecting again and again with the same agent and protocols is written once
      // per batch (its latest connection); a change of either is kept as history.
      key: (e) => JSON.stringify([e.remoteId, e.agentVersion, e.protocols]),
      maxBatch: tuning.writeBatchSize ?? WRITE_BATCH_SIZE,
      interval: tuning.writeInterval ?? WRITE_INTERVAL,
      maxBuffer: tuning.writeBufferMax ?? WRITE_BUFFER_MAX,
      retryInitial: tuning.writeRetryInitial ?? WRITE_RETRY_INITIAL,
      retryMax: WRITE_RETRY_MAX,
      onEvent: (event) => {
        this.metrics.onWriterEvent(event)
        if (event.type === 'written') this.heartbeat.recorded(event.count)
      },
      log: this.log.child({ part: 'writer' }),
    })
    this.recorder = new InboundRecorder({
      events: node,
      honeypotId: node.peerId.toString(),
      // libp2p refuses inbound connections beyond maxConnections, so this bound is never
      // reached while every close is reported; it is the guarantee if one is not.
      maxTracked: 2 * config.maxConnections,
      onEvent: (event) => this.writer.push(event),
      onResult: this.metrics.onResult,
    })
    this.heartbeat = new Heartbeat({
      db: deps.db,
      peerId: node.peerId.toString(),
      walksEnabled: config.bootstrapPeers.length > 0,
      log: this.log.child({ part: 'heartbeat' }),
    })
    if (config.bootstrapPeers.length > 0) {
      this.walker = new DhtWalker({
        node,
        bootstrapPeers: config.bootstrapPeers,
        interval: config.walkInterval,
        onWalk: this.onWalk,
        ...(tuning.lookupTimeout === undefined ? {} : { lookupTimeout: tuning.lookupTimeout }),
        ...(tuning.bootstrapTimeout === undefined ? {} : { bootstrapTimeout: tuning.bootstrapTimeout }),
      })
    }
  }

  /** Builds the node (not started, nothing listens yet). */
  static async create(config: HoneypotConfig, deps: HoneypotDeps): Promise<Honeypot> {
    const tuning = deps.tuning ?? {}
    const quic = await loadQuicTransport()
    if (quic instanceof Error)
      (deps.log ?? logger('honeypot')).warn(
        { err: quic.message },
        'listening on TCP only: QUIC cannot run here',
      )
    const node = await createHoneypotNode({
      quic: quic instanceof Error ? undefined : quic,
      privateKey: config.privateKey,
      agentVersion: `punchr/honeypot/${config.version}`,
      listenHost: config.listenHost,
      ...(config.listenHost6 === undefined || config.listenHost6 === ''
        ? {}
        : { listenHost6: config.listenHost6 }),
      port: config.port,
      announce: config.announce,
      maxConnections: config.maxConnections,
      inboundRatePerIp: tuning.inboundRatePerIp ?? DEFAULT_INBOUND_RATE_PER_IP,
      maxPendingInbound: tuning.maxPendingInbound ?? DEFAULT_MAX_PENDING_INBOUND,
      ...(tuning.privateDht === undefined ? {} : { privateDht: tuning.privateDht }),
    })
    return new Honeypot(node, config, deps)
  }

  get peerId(): PeerId {
    return this.node.peerId
  }

  /** Where peers reach us, each ending in /p2p/<our peer ID>. */
  get listenAddrs(): Multiaddr[] {
    return this.node.getMultiaddrs()
  }

  /** The /metrics port (known after start; useful with port 0). */
  get httpPort(): number {
    return this.http?.port ?? this.config.httpPort
  }

  /** Open inbound connections tracked, and events not yet stored: both bounded. */
  get backlog(): { trackedConnections: number; pendingEvents: number } {
    return { trackedConnections: this.recorder.size, pendingEvents: this.writer.pending }
  }

  async start(): Promise<void> {
    // Subscribed before the node listens, so that no inbound connection goes unseen.
    this.recorder.start()
    this.writer.start()
    this.node.addEventListener('peer:disconnect', this.forgetVisitor)
    await this.node.start()
    this.node.services.listenAddrs.confirm()
    this.http = await serveRoutes(this.config.listenHost, this.config.httpPort, {
      '/metrics': async () => ({
        status: 200,
        contentType: this.metrics.registry.contentType,
        body: await this.metrics.registry.metrics(),
      }),
      '/healthz': () => this.health(),
    })
    this.log.info(
      {
        peerId: this.peerId.toString(),
        addrs: this.listenAddrs.map(String),
        metrics: `${this.config.listenHost}:${this.httpPort}`,
        bootstrapPeers: this.config.bootstrapPeers.length,
        database: this.deps.db.kind,
      },
      'honeypot listening',
    )
    if (this.walker === undefined)
      this.log.info(
        'no bootstrap peers: not walking the DHT; recording peers that find the honeypot on their own',
      )
    // Once listening: a heartbeat says the honeypot runs.
    this.heartbeat.start()
    this.walker?.start()
  }

  /** Stops walking, closes every connection, writes what is buffered, closes /metrics. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.walker?.stop()
      await this.node.stop()
      this.node.removeEventListener('peer:disconnect', this.forgetVisitor)
      this.recorder.stop()
      await this.writer.stop(STOP_FLUSH_TIMEOUT)
      // After the last events are stored, so that its count includes them.
      await this.heartbeat.stop()
      await this.http?.close()
      this.log.info('honeypot stopped')
    })()
    return this.stopped
  }

  private async health() {
    const status = {
      peerId: this.peerId.toString(),
      database: this.deps.db.kind,
      routingTable: this.node.services.dht.routingTable.size,
      pendingEvents: this.writer.pending,
    }
    if (this.node.status !== 'started') return json(503, { status: 'stopped', ...status })
    try {
      await this.deps.db.query('SELECT 1')
      return json(200, { status: 'ok', ...status })
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      return json(503, { status: 'database unavailable', error, ...status })
    }
  }

  private readonly onWalk = (report: Parameters<HoneypotMetrics['onWalk']>[0]): void => {
    this.metrics.onWalk(report)
    this.heartbeat.walked(report.result)
    const fields = { ...report, nextInSeconds: this.config.walkInterval / 1000 }
    if (report.result === 'ok') this.log.info(fields, 'walk done')
    else this.log.warn(fields, 'walk failed; the next one runs all the same')
  }

  /**
   * libp2p's in-memory peer store keeps every peer it ever identified until the entry is read
   * again after six hours. A honeypot meets a stream of peers it never needs again, so a
   * peer outside the routing table is forgotten when its last connection closes.
   */
  private readonly forgetVisitor = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail
    void (async () => {
      if (this.node.getConnections(peer).length > 0) return
      const stored = await this.node.peerStore.get(peer)
      if ([...stored.tags.keys()].some((tag) => tag === KAD_PEER_TAG || tag.startsWith(KEEP_ALIVE))) return
      await this.node.peerStore.delete(peer)
    })().catch(() => undefined)
  }
}
