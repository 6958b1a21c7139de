import { readFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { type ConnectRouter, createContextValues } from '@connectrpc/connect'
import { createDashboard, type DashboardHandler } from '../dashboard/http.js'
import { maintainAllocationTables, pruneStaleCandidates } from '../db/allocation.js'
import { findClientHosts } from '../db/clients.js'
import { type Database, openDatabase } from '../db/database.js'
import type { HolePunchReport } from '../db/hole-punches.js'
import { migrate } from '../db/migrate.js'
import { createPartitionsAhead } from '../db/partitions.js'
import { insertHolePunchReports, KnownIds } from '../db/report-batch.js'
import {
  type GetAddrInfoRequest,
  PunchrService,
  type RegisterRequest,
  type TrackHolePunchRequest,
} from '../gen/punchr_pb.js'
import { ConfigError } from '../lib/errors.js'
import { createGeoLookup, type GeoLookup } from '../lib/geo.js'
import { logger } from '../lib/logger.js'
import { LIMITS } from '../lib/report-limits.js'
import { nowNs } from '../lib/time.js'
import { ApiKeyCache, type ApiKeyCacheOptions } from './api-key-cache.js'
import { Authenticator } from './auth.js'
import type { ServerConfig } from './config.js'
import { malformedRequest, punchrConnectAdapter } from './connect-adapter.js'
import type { ServerContext } from './context.js'
import { GroupCommit } from './group-commit.js'
import { grpcUnaryStreams } from './grpc-unary.js'
import { errorsAndMetrics, messageSizeLimit, recordCall } from './interceptors.js'
import { ServerMetrics } from './metrics.js'
import { parseFilterShares } from './protocol-filter.js'
import { RecentHosts } from './recent-hosts.js'
import { getAddrInfo } from './routes/get-addr-info.js'
import { register } from './routes/register.js'
import { trackHolePunch } from './routes/track-hole-punch.js'

/** How often the allocation working set is vacuumed (see maintainAllocationTables). */
const MAINTENANCE_INTERVAL_MS = 5 * 60_000

/** How often the result tables' partitions are made ahead (createPartitionsAhead). */
const PARTITIONS_INTERVAL_MS = 60 * 60_000

/** How often stale allocation candidates are deleted (pruneStaleCandidates). */
const PRUNE_INTERVAL_MS = 30_000

/** Bytes of reports (as sent) stored in one batch at most: a bound on the memory a batch holds. */
const REPORT_BATCH_MAX_BYTES = 8 * 1024 * 1024

/**
 * The read limit of both API paths (Connect, grpc-unary.ts): a hard memory cap above
 * LIMITS.maxMessageBytes (see interceptors.ts).
 */
const HARD_READ_LIMIT_BYTES = 2 * LIMITS.maxMessageBytes

export interface ServerDeps {
  /** An open database; the server then neither opens nor closes it (tests share one). */
  db?: Database
  /** A loaded geo lookup (tests share one; loading takes ~0.7 s). */
  geo?: GeoLookup
  nowNs?: () => bigint
  random?: () => number
  /** The API-key cache's settings; `{ maxEntries: 0 }` caches nothing (the benchmark's baseline). */
  apiKeyCache?: ApiKeyCacheOptions
  /** How often stale candidates are pruned (tests shorten it). @default 30 000 ms */
  pruneIntervalMs?: number
}

export interface PunchrServer {
  readonly db: Database
  readonly metrics: ServerMetrics
  /** Bound ports, known after start() (useful with port 0). */
  readonly grpcPort: number
  readonly httpPort: number
  /** RPCs being handled right now. */
  readonly inFlight: number
  start(): Promise<void>
  /** Stops accepting, lets in-flight RPCs finish, then closes what the server opened. Idempotent. */
  destroy(): Promise<void>
}

/** Builds a server: opens and migrates the database, wires the routes. Does not listen yet. */
export async function createServer(config: ServerConfig, deps: ServerDeps = {}): Promise<PunchrServer> {
  // Before the database opens: a bad flag must not leave it open (or locked) behind.
  const tls = readTls(config)
  const filterShares = parseFilterShares(config.filterShares)
  checkReadDatabaseUrl(config, deps.db)
  const log = logger('server')
  const ownsDb = deps.db === undefined
  const db = deps.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }))
  if (ownsDb) await migrate(db)
  const ownsGeo = deps.geo === undefined
  const geo = deps.geo ?? createGeoLookup()
  await geo.ready()
  const metrics = new ServerMetrics()
  const auth = new Authenticator(
    db,
    { openRegistration: config.openRegistration },
    new ApiKeyCache(deps.apiKeyCache),
  )
  const known = new KnownIds()
  const reports = new GroupCommit(
    (batch: readonly HolePunchReport[]) => insertHolePunchReports(db, batch, ctx.geo, { known }),
    {
      maxItems: config.reportBatchMax,
      maxBytes: REPORT_BATCH_MAX_BYTES,
      windowMs: config.reportBatchWindow,
      // One at a time by default: the reports that arrive meanwhile wait and make the next
      // batch bigger, which costs less per report than a second batch beside it (on two
      // cores, 7–10 % more reports a second; docs/benchmarks.md). PGlite runs one
      // transaction at a time anyway.
      concurrency: db.kind === 'pglite' ? 1 : config.reportBatchWriters,
    },
    (batch) => {
      metrics.reportBatchSize.observe(batch.items)
      metrics.reportBatchSeconds.observe(batch.seconds)
      if (batch.split) metrics.reportBatchesSplit.inc()
    },
  )
  // Every GetAddrInfo looks its host up first, and so does a TrackHolePunch whose host did not
  // report within the last minute (recentHosts below). Under load, the lookups that
  // arrive while others run go to the database as one statement when a slot frees (the group
  // commit's batching, for a read): one round trip for many calls instead of one each.
  const hostLookups = new GroupCommit(
    async (multiHashes: readonly string[]) => {
      const found = await findClientHosts(db, multiHashes)
      return multiHashes.map((multiHash) => found.get(multiHash))
    },
    { maxItems: 500, maxBytes: Number.POSITIVE_INFINITY, windowMs: 0, concurrency: 2 },
  )
  const findHost = (multiHash: string) => hostLookups.add(multiHash, 0)
  const ctx: ServerContext = {
    db,
    auth,
    findHost,
    recentHosts: new RecentHosts(findHost),
    allocation: {
      maxResultsPerRemotePerMinute: config.maxResultsPerRemotePerMinute,
      retryPairAfterSeconds: config.retryPairAfter,
    },
    privateRelayHops: config.privateRelayHops,
    filterShares,
    geo: (ip) => geo.lookup(ip),
    reports,
    metrics,
    log,
    nowNs: deps.nowNs ?? nowNs,
    random: deps.random ?? Math.random,
  }

  let inFlight = 0
  let drained: (() => void) | undefined
  const track = async <T>(fn: () => Promise<T>): Promise<T> => {
    inFlight++
    try {
      return await fn()
    } finally {
      inFlight--
      if (inFlight === 0) drained?.()
    }
  }
  const implementations = {
    register: (req: RegisterRequest) => track(() => register(ctx, req)),
    getAddrInfo: (req: GetAddrInfoRequest) => track(() => getAddrInfo(ctx, req)),
    trackHolePunch: (req: TrackHolePunchRequest) => track(() => trackHolePunch(ctx, req)),
  }
  const routes = (router: ConnectRouter) => router.service(PunchrService, implementations)
  const adapterOptions = {
    routes,
    readMaxBytes: HARD_READ_LIMIT_BYTES,
    interceptors: [errorsAndMetrics(metrics, log), malformedRequest(), messageSizeLimit()],
    contextValues: () => createContextValues(),
  }
  // gRPC needs HTTP/2: cleartext with prior knowledge (what Go and Rust punchr clients speak
  // by default) or TLS with ALPN h2 when --tls-cert/--tls-key are given. Plain gRPC is served
  // without Connect (grpc-unary.ts); anything else on the port goes to Connect's adapter.
  const grpcStreams = grpcUnaryStreams({
    service: PunchrService,
    implementations,
    call: (method, run) => recordCall(metrics, log, method, run),
    maxMessageBytes: LIMITS.maxMessageBytes,
    readMaxBytes: HARD_READ_LIMIT_BYTES,
    fallback: punchrConnectAdapter(adapterOptions),
  })
  const grpcSessions = new Set<http2.ServerHttp2Session>()
  const newGrpcServer = () => {
    const server = tls === undefined ? http2.createServer() : http2.createSecureServer(tls)
    server.on('stream', grpcStreams)
    trackSessions(server, grpcSessions)
    return server
  }
  // The HTTP/1.1 port serves /metrics, /healthz and the dashboard, and the same API over
  // Connect and gRPC-Web for browsers and curl.
  // The dashboard only reads: it may read from a replica and spare the primary its scans.
  // API keys are still checked on the primary, where revocations land first.
  const readDb =
    config.readDatabaseUrl === undefined
      ? undefined
      : await openDatabase({ databaseUrl: config.readDatabaseUrl })
  const dashboard = createDashboard(readDb ?? db, db, {
    // grpcPort is bound in start(); the dashboard asks only while serving requests.
    grpcPort: () => grpcPort,
    tls: tls !== undefined,
    openRegistration: config.openRegistration,
    privateRelayHops: config.privateRelayHops,
    database: db.kind === 'pglite' ? { kind: 'pglite', dataDir: config.dataDir } : { kind: 'postgres' },
  })
  const httpHandler = punchrConnectAdapter({
    ...adapterOptions,
    fallback: (req, res) =>
      void serveHttp(req as http.IncomingMessage, res as http.ServerResponse, { db, metrics, dashboard }),
  })
  const newHttpServer = () =>
    tls === undefined ? http.createServer(httpHandler) : https.createServer(tls, httpHandler)
  // One server pair per listen address: --host, and --host6 for clients on IPv6 only (a Node
  // server listens on one address; `::` alone would also take IPv4, as v4-mapped addresses).
  const hosts = [config.host, ...(config.host6 === '' ? [] : [config.host6])]
  const grpcServers = hosts.map(newGrpcServer)
  const httpServers = hosts.map(newHttpServer)

  let maintenance: NodeJS.Timeout | undefined
  const maintain = () =>
    maintainAllocationTables(db).catch((err: unknown) =>
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'vacuum of remote_candidates failed',
      ),
    )
  let pruning: NodeJS.Timeout | undefined
  const prune = () =>
    pruneStaleCandidates(db).then(
      (pruned) => {
        if (pruned > 0) log.debug({ pruned }, 'deleted stale allocation candidates')
      },
      (err: unknown) =>
        log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'pruning stale allocation candidates failed; the next try is in half a minute',
        ),
    )

  let partitioning: NodeJS.Timeout | undefined
  const makePartitions = () =>
    createPartitionsAhead(db).then(
      (made) => {
        if (made > 0) log.info({ tables: made }, "made the result tables' partitions of the coming month")
      },
      (err: unknown) =>
        log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "making the coming month's partitions failed; the next try is in an hour (reports are refused once a month starts without them)",
        ),
    )

  let grpcPort = config.port
  let httpPort = config.httpPort
  let destroyed: Promise<void> | undefined
  return {
    db,
    metrics,
    get grpcPort() {
      return grpcPort
    },
    get httpPort() {
      return httpPort
    },
    get inFlight() {
      return inFlight
    },
    async start() {
      // Port 0 picks a free port on the first address; the others listen on the same one.
      for (const [i, host] of hosts.entries()) {
        // --host6 alone (ipv6Only): `::` would otherwise claim IPv4 too and clash with --host 0.0.0.0.
        const ipv6Only = i > 0
        grpcPort = await listen(grpcServers[i]!, host, i === 0 ? config.port : grpcPort, ipv6Only)
        httpPort = await listen(httpServers[i]!, host, i === 0 ? config.httpPort : httpPort, ipv6Only)
      }
      await auth.cache.listen(db)
      await makePartitions()
      partitioning = setInterval(makePartitions, PARTITIONS_INTERVAL_MS)
      partitioning.unref()
      maintenance = setInterval(maintain, MAINTENANCE_INTERVAL_MS)
      maintenance.unref()
      void prune()
      pruning = setInterval(prune, deps.pruneIntervalMs ?? PRUNE_INTERVAL_MS)
      pruning.unref()
      log.info(
        {
          grpc: `${config.host}:${grpcPort}`,
          http: `${config.host}:${httpPort}`,
          ...(config.host6 === ''
            ? {}
            : { grpc6: `[${config.host6}]:${grpcPort}`, http6: `[${config.host6}]:${httpPort}` }),
          tls: tls !== undefined,
          database: db.kind,
        },
        'punchr server listening',
      )
    },
    destroy() {
      destroyed ??= (async () => {
        log.info({ inFlight }, 'shutting down: no new requests, finishing in-flight ones')
        clearInterval(maintenance)
        clearInterval(pruning)
        clearInterval(partitioning)
        const closing = Promise.all([...grpcServers, ...httpServers].map(close))
        if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve))
        // Idle HTTP/2 sessions would keep close() waiting; in-flight work is done now.
        for (const session of grpcSessions) session.close()
        for (const server of httpServers) server.closeAllConnections()
        await closing
        await reports.flush()
        await hostLookups.flush()
        await auth.cache.stop()
        if (ownsGeo) geo.close()
        if (ownsDb) await db.close()
        await readDb?.close()
        log.info('server stopped')
      })()
      return destroyed
    },
  }
}

/** The certificate and key of --tls-cert/--tls-key, read once at start; undefined = cleartext. */
function readTls(config: ServerConfig): { cert: Buffer; key: Buffer } | undefined {
  const { tlsCert, tlsKey } = config
  if (tlsCert === undefined && tlsKey === undefined) return undefined
  if (tlsCert === undefined || tlsKey === undefined)
    throw new ConfigError('--tls-cert and --tls-key go together: give both, or neither for cleartext')
  const read = (path: string, flag: string) => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new ConfigError(`${flag} ${path}: ${(err as Error).message}`)
    }
  }
  return { cert: read(tlsCert, '--tls-cert'), key: read(tlsKey, '--tls-key') }
}

function listen(
  server: http.Server | http2.Http2Server | http2.Http2SecureServer,
  host: string,
  port: number,
  ipv6Only = false,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, ipv6Only }, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Remembers open HTTP/2 sessions in `open` so shutdown can close idle ones (server.close() waits for them). */
function trackSessions(
  server: http2.Http2Server | http2.Http2SecureServer,
  open: Set<http2.ServerHttp2Session>,
): void {
  server.on('session', (session: http2.ServerHttp2Session) => {
    open.add(session)
    session.on('close', () => open.delete(session))
  })
}

function close(server: http.Server | http2.Http2Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })
}

async function serveHttp(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  deps: { db: Database; metrics: ServerMetrics; dashboard: DashboardHandler },
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  if (path === '/metrics') {
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType })
    res.end(await deps.metrics.registry.metrics())
    return
  }
  if (path === '/healthz') {
    try {
      await deps.db.query('SELECT 1')
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status: 'ok', database: deps.db.kind }))
    } catch (err) {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          status: 'unavailable',
          database: deps.db.kind,
          error: err instanceof Error ? err.message : String(err),
        }),
      )
    }
    return
  }
  if (await deps.dashboard(req, res)) return
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('not found\n')
}

/** --read-database-url names a PostgreSQL replica of --database-url; PGlite has none. */
function checkReadDatabaseUrl(config: ServerConfig, given: Database | undefined): void {
  if (config.readDatabaseUrl === undefined) return
  if (!/^postgres(ql)?:\/\//.test(config.readDatabaseUrl))
    throw new ConfigError(
      '--read-database-url must be a postgres:// URL (a streaming replica of --database-url)',
    )
  if (given === undefined ? config.databaseUrl === undefined : given.kind === 'pglite')
    throw new ConfigError(
      '--read-database-url needs --database-url: the embedded PGlite database has no replicas; set both or neither',
    )
}
