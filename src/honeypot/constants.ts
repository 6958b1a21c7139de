// Defaults of the honeypot. Durations are milliseconds; each default says where it comes from.

const second = 1000
const minute = 60 * second

/**
 * libp2p port: TCP, and QUIC v1 on the same UDP port number (docs/PROTOCOL.md, "Processes,
 * ports and files").
 */
export const DEFAULT_PORT = 11000

/** /metrics and /healthz (docs/PROTOCOL.md, "Processes, ports and files"). */
export const DEFAULT_HTTP_PORT = 11001

/** The public IPFS Amino DHT, the DHT the Go honeypot joined. */
export const DHT_PROTOCOL = '/ipfs/kad/1.0.0'

/** kad-dht's tag on the peers in its routing table (routing-table/index.ts, not exported). */
export const KAD_PEER_TAG = 'kad-peer'

/** Pause between two walks. One walk takes seconds to a few minutes on the public DHT. */
export const DEFAULT_WALK_INTERVAL = 30 * second

/**
 * Lookups per walk: one random key under each of the 2^4 prefixes of the keyspace, so that
 * every walk reaches peers all over the DHT (each lookup ends near its key), not only near us.
 */
export const WALK_PREFIX_BITS = 4

/** Lookups of one walk that run at once (each runs kad-dht's own α = 10 queries in parallel). */
export const WALK_CONCURRENCY = 4

/** One lookup (kad-dht's default is 3 minutes; a lookup on the public DHT ends within ~30 s). */
export const LOOKUP_TIMEOUT = 60 * second

/** Dialling one bootstrap peer (libp2p's own dial timeout is 10 s). */
export const BOOTSTRAP_DIAL_TIMEOUT = 15 * second

/**
 * Open connections at most (libp2p refuses inbound ones above it). Each costs some 20–100 KB
 * (socket, Noise, yamux buffers); walks close their outbound connections when they end, so
 * most of the budget serves inbound peers.
 */
export const DEFAULT_MAX_CONNECTIONS = 1000

/**
 * Inbound connections per second from one IP before libp2p refuses more. libp2p's default
 * is 5; many NATed peers share one address behind carrier-grade NAT, hence a little more.
 */
export const DEFAULT_INBOUND_RATE_PER_IP = 20

/** Inbound connections still in their Noise/yamux upgrade at once (libp2p's default is 10). */
export const DEFAULT_MAX_PENDING_INBOUND = 64

/** Batch writer: a batch is written when it has this many events… */
export const WRITE_BATCH_SIZE = 500
/** …or when its oldest event waited this long. */
export const WRITE_INTERVAL = 1 * second
/**
 * Events waiting for the database at most; beyond it the oldest are dropped (counted). At
 * ~1 KB each, 50 000 events are ~50 MB, about a minute of a heavy flood or a long outage.
 */
export const WRITE_BUFFER_MAX = 50_000
/** Retry of a batch while the database is unavailable: first wait, cap (doubling, jittered). */
export const WRITE_RETRY_INITIAL = 1 * second
export const WRITE_RETRY_MAX = 1 * minute
/** On stop, how long a database outage may hold up the last flush before events are dropped. */
export const STOP_FLUSH_TIMEOUT = 10 * second
