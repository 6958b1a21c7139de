import { type Client, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { DEFAULT_ALLOCATION_POLICY } from '../../src/db/allocation.js'
import { addApiKey } from '../../src/db/authorizations.js'
import type { Database } from '../../src/db/database.js'
import { PunchrService, type TrackHolePunchRequest } from '../../src/gen/punchr_pb.js'
import { createGeoLookup, type GeoLookup } from '../../src/lib/geo.js'
import { REPORT_BATCH_DEFAULTS, type ServerConfig } from '../../src/server/config.js'
import { DEFAULT_FILTER_SHARES_TEXT } from '../../src/server/protocol-filter.js'
import { createServer, type PunchrServer, type ServerDeps } from '../../src/server/server.js'
import { fullReport, newPeer, type TestPeer } from './fixtures.js'

let sharedGeo: GeoLookup | undefined

/** One geo lookup for the whole test process (loading it takes about a second). */
export async function testGeo(): Promise<GeoLookup> {
  sharedGeo ??= createGeoLookup()
  await sharedGeo.ready()
  return sharedGeo
}

export interface TestServer {
  server: PunchrServer
  db: Database
  /** A Connect client speaking gRPC over HTTP/2 to the server. */
  client: Client<typeof PunchrService>
  grpcUrl: string
  httpUrl: string
  addKey(user?: string): Promise<string>
  stop(): Promise<void>
}

/** A server config for tests: loopback, ephemeral ports, the database comes as a dependency. */
export function loopbackServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    host6: '',
    port: 0,
    httpPort: 0,
    openRegistration: false,
    tlsCert: undefined,
    tlsKey: undefined,
    maxResultsPerRemotePerMinute: DEFAULT_ALLOCATION_POLICY.maxResultsPerRemotePerMinute,
    retryPairAfter: DEFAULT_ALLOCATION_POLICY.retryPairAfterSeconds,
    filterShares: DEFAULT_FILTER_SHARES_TEXT,
    // Loopback tests run their relays on 127.0.0.1.
    privateRelayHops: true,
    reportBatchMax: REPORT_BATCH_DEFAULTS.maxReports,
    reportBatchWindow: REPORT_BATCH_DEFAULTS.windowMs,
    reportBatchWriters: REPORT_BATCH_DEFAULTS.writers,
    dataDir: 'unused',
    databaseUrl: undefined,
    readDatabaseUrl: undefined,
    ...overrides,
  }
}

/** Starts a real server on loopback (ephemeral ports) over `db`. */
export async function startTestServer(
  db: Database,
  options: { openRegistration?: boolean } & Omit<ServerDeps, 'db' | 'geo'> = {},
): Promise<TestServer> {
  const server = await createServer(
    loopbackServerConfig({ openRegistration: options.openRegistration ?? false }),
    { ...options, db, geo: await testGeo() },
  )
  await server.start()
  const grpcUrl = `http://127.0.0.1:${server.grpcPort}`
  const client = createClient(PunchrService, createGrpcTransport({ baseUrl: grpcUrl }))
  return {
    server,
    db,
    client,
    grpcUrl,
    httpUrl: `http://127.0.0.1:${server.httpPort}`,
    addKey: async (user = 'tester') => (await addApiKey(db, user)).key,
    stop: () => server.destroy(),
  }
}

export interface ReportingHost {
  client: Client<typeof PunchrService>
  key: string
  host: TestPeer
  /** A full report of this host, ready to send (change endedAt for another distinct one). */
  report: TrackHolePunchRequest
}

/** A client host registered on the server at `grpcPort` under a fresh key of `user`. */
export async function reportingHost(db: Database, grpcPort: number, user: string): Promise<ReportingHost> {
  const key = (await addApiKey(db, user)).key
  const client = createClient(PunchrService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }))
  const [host, remote, relay] = await Promise.all([newPeer(), newPeer(), newPeer()])
  await client.register({ clientId: host.bytes, agentVersion: 'punchr-ts/test', protocols: [], apiKey: key })
  return { client, key, host, report: fullReport({ client: host, remote, relay, apiKey: key }) }
}
