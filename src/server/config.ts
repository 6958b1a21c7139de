import { DEFAULT_ALLOCATION_POLICY } from '../db/allocation.js'
import { databaseFlags } from '../db/database-flags.js'
import { boolFlag, type FlagValues, intFlag, optionalStringFlag, portFlag, stringFlag } from '../lib/flags.js'
import { DEFAULT_FILTER_SHARES_TEXT } from './protocol-filter.js'

/**
 * Group commit of reports (group-commit.ts): 100 reports keep a batch's statements and their
 * JSON parameters moderate (a few hundred KB for realistic reports; the 8 MiB bound of a batch
 * caps the rest); 2 ms is unnoticeable to a client and, at 100 reports/s and more, collects
 * several reports per transaction even while the database idles.
 */
export const REPORT_BATCH_DEFAULTS = { maxReports: 100, windowMs: 2, writers: 1 } as const

/** Flags of `punchr server` (each also read from PUNCHR_SERVER_<FLAG>). */
export const serverFlags = {
  host: stringFlag('host', 'Address to listen on (gRPC and HTTP)', '0.0.0.0', { group: 'Network' }),
  host6: stringFlag(
    'host6',
    "IPv6 address gRPC and HTTP listen on as well, for clients on IPv6 only ('' = none, :: = every IPv6 address)",
    '',
    { group: 'Network' },
  ),
  port: portFlag('port', 'API port: gRPC, gRPC-Web and Connect over HTTP/2 cleartext', 10000, {
    group: 'Network',
  }),
  httpPort: portFlag('http-port', 'HTTP port: /metrics, /healthz, dashboard, Connect/gRPC-Web', 10001, {
    group: 'Network',
  }),
  tlsCert: optionalStringFlag(
    'tls-cert',
    'PEM certificate (chain): serve both ports over TLS; needs --tls-key',
    {
      group: 'Network',
    },
  ),
  tlsKey: optionalStringFlag('tls-key', 'PEM private key of --tls-cert', { group: 'Network', secret: true }),
  openRegistration: boolFlag(
    'open-registration',
    'Let Register create a key for an unknown one (rate-limited)',
    false,
    { group: 'Access' },
  ),
  maxResultsPerRemotePerMinute: intFlag(
    'max-results-per-remote-per-minute',
    'Skip a remote that got this many results in the last minute',
    DEFAULT_ALLOCATION_POLICY.maxResultsPerRemotePerMinute,
    1,
    1_000_000,
    { group: 'Allocation' },
  ),
  retryPairAfter: intFlag(
    'retry-pair-after',
    'Seconds before a client is handed a (remote, relay addr) pair it tried again; ' +
      'lower it for campaigns with few remotes',
    DEFAULT_ALLOCATION_POLICY.retryPairAfterSeconds,
    0,
    86_400,
    { group: 'Allocation' },
  ),
  filterShares: stringFlag(
    'filter-shares',
    'Weights of the protocol filters GetAddrInfo draws: ip4+tcp, ip4+quic, ip6+tcp, ip6+quic, none; ' +
      'a filter the client or the remote cannot use is left out and its weight spread over the others',
    DEFAULT_FILTER_SHARES_TEXT,
    { group: 'Allocation' },
  ),
  privateRelayHops: boolFlag(
    'private-relay-hops',
    'Also hand out relay addresses whose relay is at a private or loopback IP: for a testbed on one ' +
      'machine or a private network, never a public server (clients would dial into their own networks)',
    false,
    { group: 'Allocation' },
  ),
  reportBatchMax: intFlag(
    'report-batch-max',
    'Reports stored together, all or none, at most (group commit; 1 = each alone)',
    REPORT_BATCH_DEFAULTS.maxReports,
    1,
    1000,
    { group: 'Database' },
  ),
  reportBatchWindow: intFlag(
    'report-batch-window',
    'Milliseconds a batch of reports waits for more after its first one (0 = only what arrives while the database is busy)',
    REPORT_BATCH_DEFAULTS.windowMs,
    0,
    1000,
    { group: 'Database' },
  ),
  reportBatchWriters: intFlag(
    'report-batch-writers',
    'Batches of reports written at the same time on PostgreSQL (PGlite writes one); each holds one of the 10 pooled connections',
    REPORT_BATCH_DEFAULTS.writers,
    1,
    8,
    { group: 'Database' },
  ),
  readDatabaseUrl: optionalStringFlag(
    'read-database-url',
    'PostgreSQL URL the dashboard reads from, e.g. a streaming replica of --database-url, which it needs (default: the main database)',
    { group: 'Database', secret: true },
  ),
  ...databaseFlags,
}

export type ServerConfig = FlagValues<typeof serverFlags>
