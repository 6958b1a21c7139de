import { peerIdFromString } from '@libp2p/peer-id'
import { hashApiKey, keyPrefixOf } from '../src/db/authorizations.js'
import type { Database } from '../src/db/database.js'
import { type BenchPeer, randomPeers } from './peer-ids.js'

/**
 * Bulk seeding with set-based SQL (generate_series, explicit ids), fast on both PGlite and
 * PostgreSQL. The only rows built in JavaScript are the peers whose IDs must be valid because
 * the server converts them to bytes (candidate remotes, relays, client hosts, honeypots);
 * every other row is derived in SQL from its id with the layout below.
 *
 * Peer ids:          1…C candidates (valid IDs) · C+1…C+H historic remotes (fake base58 strings)
 *                    · relays · client hosts · honeypots (valid IDs)
 * multi_addresses:   relay circuit addrs (2 per relay: tcp, quic-v1) · relay direct addrs (2 per
 *                    relay) · remote public addrs (2 per remote) · private LAN addrs (shared) ·
 *                    client host listen addrs (2 per host)
 */

export interface SeedSize {
  /** Remote peers that are current allocation candidates. */
  candidates: number
  /** Further remotes only seen in the past (they appear in old results). */
  historicRemotes: number
  relays: number
  clientHosts: number
  /** API keys; the client hosts are spread evenly over them. */
  authorizations: number
  honeypots: number
  /** Stored hole_punch_results, spread over `days`. */
  results: number
  days: number
  /**
   * Share of the results (the newest ones) that get attempts, address links and latency rows.
   * 1 = all of them.
   */
  detailFraction: number
  /** Rows per INSERT statement (progress is printed per statement). */
  chunk: number
  /** End with VACUUM ANALYZE (what autovacuum would have done; PGlite has no autovacuum). */
  vacuum: boolean
}

export const FULL_SIZE: SeedSize = {
  candidates: 100_000,
  historicRemotes: 100_000,
  relays: 2_000,
  clientHosts: 200,
  authorizations: 20,
  honeypots: 2,
  results: 1_000_000,
  days: 30,
  detailFraction: 1,
  chunk: 100_000,
  vacuum: true,
}

export const QUICK_SIZE: SeedSize = {
  ...FULL_SIZE,
  candidates: 10_000,
  historicRemotes: 10_000,
  relays: 500,
  results: 100_000,
  chunk: 50_000,
}

const PRIVATE_ADDRS = 254

/** Ids and SQL expressions of the layout (all numbers: safe to interpolate into SQL). */
export class Layout {
  readonly remotes: number
  readonly relay0: number
  readonly host0: number
  readonly honeypot0: number
  readonly peers: number
  // multi_addresses
  readonly relayDirect0: number
  readonly public0: number
  readonly private0: number
  readonly hostAddr0: number
  readonly addrs: number

  constructor(readonly size: SeedSize) {
    this.remotes = size.candidates + size.historicRemotes
    this.relay0 = this.remotes
    this.host0 = this.relay0 + size.relays
    this.honeypot0 = this.host0 + size.clientHosts
    this.peers = this.honeypot0 + size.honeypots
    this.relayDirect0 = 2 * size.relays
    this.public0 = 4 * size.relays
    this.private0 = this.public0 + 2 * this.remotes
    this.hostAddr0 = this.private0 + 2 * PRIVATE_ADDRS
    this.addrs = this.hostAddr0 + 2 * size.clientHosts
  }

  /** First relay (0-based) of remote `k` (a peer id 1…remotes). */
  relay1(k: string): string {
    return `((${k}) % ${this.size.relays})`
  }

  /** Second relay of remote `k`, never the first. */
  relay2(k: string): string {
    return `(((${k}) % ${this.size.relays} + 1 + ((${k}) * 31) % ${this.size.relays - 1}) % ${this.size.relays})`
  }

  /** Relay circuit addr id of relay `r` (0-based), t = 0 tcp, 1 quic-v1. */
  relayAddr(r: string, t: string | number): string {
    return `(1 + 2 * ${r} + ${t})`
  }

  /** The relay addrs a remote advertises: 2, 3 or 4 (mean 3) over two relays. */
  relayAddrs(k: string): string {
    const r1 = this.relay1(k)
    const r2 = this.relay2(k)
    return `(ARRAY[${this.relayAddr(r1, 0)}, ${this.relayAddr(r1, 1)}, ${this.relayAddr(r2, 0)}, ${this.relayAddr(r2, 1)}]::bigint[])[1:2 + (${k}) % 3]`
  }

  /** Public addr id of remote `k`, t = 0 tcp, 1 quic-v1. */
  publicAddr(k: string, t: string | number): string {
    return `(${this.public0} + 2 * ((${k}) - 1) + ${t} + 1)`
  }

  /** Listen addr id of client host h (0-based), t = 0 public tcp, 1 public quic-v1. */
  hostAddr(h: string, t: string | number): string {
    return `(${this.hostAddr0} + 2 * (${h}) + ${t} + 1)`
  }
}

export interface SeededHost {
  peer: BenchPeer
  clientId: number
  apiKey: string
  /** Every host registered with the same key (all_host_ids), this one included. */
  group: BenchPeer[]
  listenAddrs: string[]
}

export interface SeedResult {
  layout: Layout
  hosts: SeededHost[]
  /** Seconds per step, in order. */
  steps: { name: string; rows: number; seconds: number }[]
  totalSeconds: number
}

type Log = (line: string) => void

const REMOTE_AGENTS = `ARRAY['kubo/0.24.0/', 'kubo/0.25.0/', 'kubo/0.26.0/', 'kubo/0.27.0/', 'go-ipfs/0.12.2/', 'rust-libp2p/0.53.2', 'js-libp2p/1.2.0']`
const REMOTE_PROTOCOLS = `ARRAY['/ipfs/bitswap/1.2.0', '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/ipfs/kad/1.0.0', '/ipfs/ping/1.0.0', '/libp2p/circuit/relay/0.2.0/stop', '/libp2p/dcutr']`
const COUNTRIES = `ARRAY['US', 'DE', 'CN', 'FR', 'GB', 'NL', 'CA', 'JP', 'KR', 'SG', 'RU', 'BR', 'IN', 'FI', 'AU']`
const ASNS = 'ARRAY[16509, 24940, 4134, 16276, 14061, 3320, 7922, 4837, 3215, 13335, 8075, 7018]'

/** Runs seeding steps, timing and logging each; `chunked` splits one over id ranges. */
class StepRunner {
  readonly steps: SeedResult['steps'] = []
  private readonly started = performance.now()

  constructor(
    private readonly db: Database,
    private readonly chunk: number,
    readonly log: Log,
  ) {}

  async step(name: string, rows: number, run: () => Promise<unknown>): Promise<void> {
    const t0 = performance.now()
    await run()
    const seconds = (performance.now() - t0) / 1000
    // PGlite answers without real I/O, so a chain of awaits never reaches the event loop's
    // macrotask phase; yield once per step so that Ctrl-C is handled promptly.
    await new Promise((resolve) => setImmediate(resolve))
    this.steps.push({ name, rows, seconds })
    const elapsed = ((performance.now() - this.started) / 1000).toFixed(1).padStart(6)
    this.log(
      `  [${elapsed} s] ${name}: ${rows.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s (${Math.round(rows / Math.max(seconds, 0.001)).toLocaleString('en-US')} rows/s)`,
    )
  }

  /** Runs `sql(lo, hi)` as bulk inserts for consecutive id ranges lo…hi of at most `chunk` ids. */
  async chunked(
    name: string,
    total: number,
    rowsPerId: number,
    sql: (lo: number, hi: number) => string,
    first = 1,
  ): Promise<void> {
    for (let lo = first; lo < first + total; lo += this.chunk) {
      const hi = Math.min(lo + this.chunk - 1, first + total - 1)
      const label = total > this.chunk ? `${name} ${lo - first + 1}–${hi - first + 1}` : name
      await this.step(label, Math.round((hi - lo + 1) * rowsPerId), () => bulk(this.db, sql(lo, hi)))
    }
  }

  get totalSeconds(): number {
    return (performance.now() - this.started) / 1000
  }
}

/**
 * Seeds a migrated, empty database. `resultsNow` (default: all of `size.results`) stores only
 * the oldest results, for a benchmark that grows the table later with growResults().
 */
export async function seed(
  db: Database,
  size: SeedSize,
  log: Log,
  resultsNow = size.results,
): Promise<SeedResult> {
  const L = new Layout(size)
  const runner = new StepRunner(db, size.chunk, log)
  const step = runner.step.bind(runner)
  const chunked = runner.chunked.bind(runner)

  // ---- peers with valid IDs (built in JS, inserted from arrays) -------------------------------
  const valid = randomPeers(size.candidates + size.relays + size.clientHosts + size.honeypots)
  for (const peer of valid.slice(0, 1000)) {
    if (peerIdFromString(peer.id).type !== 'Ed25519') throw new Error(`not an Ed25519 peer ID: ${peer.id}`)
  }
  const candidates = valid.slice(0, size.candidates)
  const relays = valid.slice(size.candidates, size.candidates + size.relays)
  const hostPeers = valid.slice(
    size.candidates + size.relays,
    size.candidates + size.relays + size.clientHosts,
  )
  const honeypots = valid.slice(size.candidates + size.relays + size.clientHosts)
  const validIds: number[] = [
    ...candidates.map((_, i) => 1 + i),
    ...relays.map((_, i) => L.relay0 + 1 + i),
    ...hostPeers.map((_, i) => L.host0 + 1 + i),
    ...honeypots.map((_, i) => L.honeypot0 + 1 + i),
  ]
  const insertValid = `INSERT INTO peers (id, multi_hash, agent_version, protocols, created_at, updated_at)
    SELECT t.id, t.mh,
      CASE
        WHEN t.id <= ${L.remotes} THEN (${REMOTE_AGENTS})[1 + t.id % 7]
        WHEN t.id <= ${L.host0} THEN 'kubo/0.26.0/'
        WHEN t.id <= ${L.honeypot0} THEN 'punchr/go-client/0.8.0'
        ELSE 'punchr/honeypot/0.1.0'
      END,
      CASE
        WHEN t.id <= ${L.remotes} THEN ${REMOTE_PROTOCOLS}
        WHEN t.id <= ${L.host0} THEN ARRAY['/ipfs/id/1.0.0', '/ipfs/kad/1.0.0', '/ipfs/ping/1.0.0', '/libp2p/circuit/relay/0.2.0/hop']
        ELSE ARRAY['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/libp2p/dcutr']
      END,
      now() - interval '40 days' + interval '1 second' * (t.id % 3000000),
      now() - interval '1 day' * (t.id % 30)
    FROM unnest($1::bigint[], $2::text[]) AS t(id, mh)`
  for (let i = 0; i < valid.length; i += 50_000) {
    const ids = validIds.slice(i, i + 50_000)
    const mhs = valid.slice(i, i + 50_000).map((p) => p.id)
    await step(`peers with valid IDs ${i + 1}–${i + ids.length}`, ids.length, () =>
      bulk(db, insertValid, [ids, mhs]),
    )
  }
  // ---- historic remotes: unique fake 12D3KooW… strings (52 characters like the real ones) ------
  await chunked(
    'peers (historic remotes, fake IDs)',
    size.historicRemotes,
    1,
    (lo, hi) => `INSERT INTO peers (id, multi_hash, agent_version, protocols, created_at, updated_at)
      SELECT g, '12D3KooW' || translate(md5(g::text) || substr(md5('h' || g), 1, 12), '0', 'z'),
        (${REMOTE_AGENTS})[1 + g % 7], ${REMOTE_PROTOCOLS},
        now() - interval '40 days' + interval '1 second' * (g % 3000000), now() - interval '1 day' * (g % 30)
      FROM generate_series(${lo}::bigint, ${hi}::bigint) g`,
    size.candidates + 1,
  )

  // ---- multi_addresses --------------------------------------------------------------------
  const relayIp = (r: string) => `host('20.0.0.0'::inet + (${r} * 7919 + 11))`
  await step('multi_addresses (relay circuit and direct addrs)', 4 * size.relays, () =>
    db.query(`INSERT INTO multi_addresses (id, maddr, is_relay, is_public, addr, ip_version, transport, country, asn, created_at)
      SELECT CASE WHEN d = 0 THEN ${L.relayAddr('r', 't')} ELSE ${L.relayDirect0} + ${L.relayAddr('r', 't')} END,
        '/ip4/' || ${relayIp('r')} || CASE WHEN t = 0 THEN '/tcp/4001' ELSE '/udp/4001/quic-v1' END
          || CASE WHEN d = 0 THEN '/p2p/' || p.multi_hash || '/p2p-circuit' ELSE '' END,
        d = 0, true, ('20.0.0.0'::inet + (r * 7919 + 11)), 4, CASE WHEN t = 0 THEN 'tcp' ELSE 'quic-v1' END,
        (${COUNTRIES})[1 + (r * 7) % 15], (${ASNS})[1 + r % 12], now() - interval '40 days'
      FROM (SELECT id - ${L.relay0} - 1 AS r, multi_hash FROM peers WHERE id BETWEEN ${L.relay0 + 1} AND ${L.relay0 + size.relays}) p,
        generate_series(0, 1) t, generate_series(0, 1) d`),
  )
  // Every 5th remote is on IPv6.
  const remoteIp = (k: string) =>
    `CASE WHEN ${k} % 5 = 0 THEN '2a01:4f8::'::inet + (${k} * 65537) ELSE '60.0.0.0'::inet + (${k} * 37) END`
  await chunked(
    'multi_addresses (remote public addrs)',
    L.remotes,
    2,
    (
      lo,
      hi,
    ) => `INSERT INTO multi_addresses (id, maddr, is_relay, is_public, addr, ip_version, transport, country, asn, created_at)
      SELECT ${L.publicAddr('k', 't')},
        CASE WHEN k % 5 = 0 THEN '/ip6/' ELSE '/ip4/' END || host(${remoteIp('k')})
          || CASE WHEN t = 0 THEN '/tcp/' || (1024 + (k * 13) % 64000) ELSE '/udp/' || (1024 + (k * 13) % 64000) || '/quic-v1' END,
        false, true, ${remoteIp('k')}, CASE WHEN k % 5 = 0 THEN 6 ELSE 4 END, CASE WHEN t = 0 THEN 'tcp' ELSE 'quic-v1' END,
        (${COUNTRIES})[1 + (k * 7) % 15], (${ASNS})[1 + k % 12], now() - interval '40 days' + interval '1 second' * (k % 3000000)
      FROM generate_series(${lo}::bigint, ${hi}::bigint) k, generate_series(0, 1) t`,
  )
  await step(
    'multi_addresses (private LAN and client host addrs)',
    2 * PRIVATE_ADDRS + 2 * size.clientHosts,
    async () => {
      await db.query(`INSERT INTO multi_addresses (id, maddr, is_relay, is_public, addr, ip_version, transport, created_at)
        SELECT ${L.private0} + 1 + 2 * x + t,
          '/ip4/192.168.' || (x % 4) || '.' || (x + 1) || CASE WHEN t = 0 THEN '/tcp/4001' ELSE '/udp/4001/quic-v1' END,
          false, false, ('192.168.' || (x % 4) || '.' || (x + 1))::inet, 4, CASE WHEN t = 0 THEN 'tcp' ELSE 'quic-v1' END,
          now() - interval '40 days'
        FROM generate_series(0, ${PRIVATE_ADDRS - 1}) x, generate_series(0, 1) t`)
      await db.query(`INSERT INTO multi_addresses (id, maddr, is_relay, is_public, addr, ip_version, transport, country, asn, created_at)
        SELECT ${L.hostAddr('h', 't')},
          '/ip4/' || host('80.0.0.0'::inet + (h * 101 + 3)) || CASE WHEN t = 0 THEN '/tcp/4001' ELSE '/udp/4001/quic-v1' END,
          false, true, '80.0.0.0'::inet + (h * 101 + 3), 4, CASE WHEN t = 0 THEN 'tcp' ELSE 'quic-v1' END,
          (${COUNTRIES})[1 + h % 15], (${ASNS})[1 + h % 12], now() - interval '35 days'
        FROM generate_series(0, ${size.clientHosts - 1}) h, generate_series(0, 1) t`)
    },
  )

  // ---- API keys and client hosts ------------------------------------------------------------
  const keys = Array.from({ length: size.authorizations }, (_, i) => `pk_bench_${i}_${randomSuffix()}`)
  const authIds: number[] = []
  await step('authorizations and clients', size.authorizations + size.clientHosts, async () => {
    const rows = await db.query<{ id: number }>(
      `INSERT INTO authorizations (api_key_sha256, key_prefix, username, created_at)
       SELECT h, p, u, now() - interval '60 days' FROM unnest($1::bytea[], $2::text[], $3::text[]) AS t(h, p, u)
       RETURNING id`,
      [keys.map(hashApiKey), keys.map(keyPrefixOf), keys.map((_, i) => `bench-user-${i}`)],
    )
    authIds.push(...rows.map((r) => Number(r.id)))
    await db.query(
      `INSERT INTO clients (id, peer_id, authorization_id, created_at, updated_at)
       SELECT h + 1, ${L.host0} + 1 + h, ($1::int[])[1 + (h * ${size.authorizations}) / ${size.clientHosts}],
         now() - interval '35 days', now() - interval '1 hour'
       FROM generate_series(0, ${size.clientHosts - 1}) h`,
      [authIds],
    )
  })

  // ---- connection events: 2 per candidate (one within the last 9 minutes), 1 per historic ----
  const eventSql = (
    lo: number,
    hi: number,
  ) => `INSERT INTO connection_events (id, remote_id, listens_on_relay, supports_dcutr,
      multi_address_id, agent_version, protocols, honeypot_id, opened_at, created_at)
    SELECT e, k, true, true, ${L.publicAddr('k', 'k % 2')}, (${REMOTE_AGENTS})[1 + k % 7], ${REMOTE_PROTOCOLS},
      ${L.honeypot0} + 1 + k % ${size.honeypots}, at, at
    FROM (
      SELECT e,
        CASE WHEN e <= ${2 * size.candidates} THEN (e + 1) / 2 ELSE e - ${size.candidates} END AS k,
        CASE
          WHEN e > ${2 * size.candidates} THEN now() - interval '1 hour' - interval '30 days' * random()
          WHEN e % 2 = 1 THEN now() - interval '1 hour' - interval '1 day' * random()
          ELSE now() - interval '9 minutes' * random()
        END AS at
      FROM generate_series(${lo}::bigint, ${hi}::bigint) e OFFSET 0) s`
  const events = 2 * size.candidates + size.historicRemotes
  await chunked('connection_events', events, 1, eventSql)
  // Advertised addrs: the relay addrs (2–4) and two private LAN addrs.
  await chunked(
    'connection_events_x_multi_addresses',
    events,
    5,
    (lo, hi) => `INSERT INTO connection_events_x_multi_addresses (connection_event_id, multi_address_id)
      SELECT e.id, a FROM connection_events e,
        unnest(${L.relayAddrs('e.remote_id')} || ARRAY[${L.private0} + 1 + 2 * (e.remote_id % ${PRIVATE_ADDRS}), ${L.private0} + 2 + 2 * (e.remote_id % ${PRIVATE_ADDRS})]::bigint[]) a
      WHERE e.id BETWEEN ${lo} AND ${hi}`,
  )

  // ---- allocation working set -----------------------------------------------------------------
  await step('remote_candidates', size.candidates, () =>
    bulk(
      db,
      `INSERT INTO remote_candidates (peer_id, relay_multi_address_ids, last_seen_at, last_allocated_at)
      SELECT k, ${L.relayAddrs('k')}, now() - interval '5 minutes' * random(),
        CASE WHEN k % 10 = 0 THEN NULL ELSE now() - interval '12 hours' * random() END
      FROM generate_series(1::bigint, ${size.candidates}::bigint) k`,
    ),
  )
  await step(
    'allocations (one per relay addr of each earlier hand-out)',
    Math.round(size.candidates * 0.9 * 3),
    () =>
      bulk(
        db,
        `INSERT INTO allocations (client_id, remote_id, multi_address_id, protocols, allocated_at)
      SELECT 1 + (rc.peer_id * 7) % ${size.clientHosts}, rc.peer_id, a,
        (CASE rc.peer_id % 5 WHEN 0 THEN '{}' WHEN 1 THEN '{4,6}' WHEN 2 THEN '{4,461}' WHEN 3 THEN '{41,6}' ELSE '{41,461}' END)::int[],
        rc.last_allocated_at
      FROM remote_candidates rc, unnest(rc.relay_multi_address_ids) a
      WHERE rc.last_allocated_at IS NOT NULL`,
      ),
  )

  await insertResults(db, L, runner, 1, resultsNow)
  await finishSeeding(db, size, runner)

  const hosts: SeededHost[] = hostPeers.map((peer, h) => {
    const a = Math.floor((h * size.authorizations) / size.clientHosts)
    const group = hostPeers.filter((_, j) => Math.floor((j * size.authorizations) / size.clientHosts) === a)
    const ip = ipv4Plus('80.0.0.0', h * 101 + 3)
    return {
      peer,
      clientId: h + 1,
      apiKey: keys[a]!,
      group,
      listenAddrs: [
        `/ip4/${ip}/tcp/4001`,
        `/ip4/${ip}/udp/4001/quic-v1`,
        `/ip4/192.168.${h % 4}.${(h % 250) + 2}/tcp/4001`,
        `/ip4/192.168.${h % 4}.${(h % 250) + 2}/udp/4001/quic-v1`,
      ],
    }
  })
  return { layout: L, hosts, steps: runner.steps, totalSeconds: runner.totalSeconds }
}

/**
 * Inserts hole_punch_results with ids first…last, each with attempts, address links and latency
 * rows if it is one of the detailed ones (SeedSize.detailFraction).
 */
async function insertResults(
  db: Database,
  L: Layout,
  runner: StepRunner,
  first: number,
  last: number,
): Promise<void> {
  const size = L.size
  await runner.step('partitions', 0, () =>
    db.query(`SELECT create_result_partitions(now() - interval '${size.days} days', now())`),
  )
  // Outcomes as in the 2022 campaign: ~60 % SUCCESS (97.6 % of them on the first attempt),
  // 22 % FAILED after 3 attempts, the rest without a punch. ~1.3 attempts per result.
  await runner.chunked(
    'hole_punch_results',
    last - first + 1,
    1,
    (
      lo,
      hi,
    ) => `INSERT INTO hole_punch_results (id, client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns,
        error, outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at)
      SELECT g, client_id, k, at - interval '20 s', at - interval '19.5 s', outcome IN ('SUCCESS', 'CONNECTION_REVERSED'),
        CASE outcome
          WHEN 'FAILED' THEN 'all retries for hole punch with peer failed'
          WHEN 'NO_CONNECTION' THEN 'failed to dial: context deadline exceeded'
          WHEN 'NO_STREAM' THEN 'failed to open stream: protocols not supported: [/libp2p/dcutr]'
          WHEN 'CANCELLED' THEN 'context canceled'
        END,
        outcome, at - interval '200 ms', protocols,
        CASE outcome
          WHEN 'SUCCESS' THEN CASE WHEN x < 0.976 THEN 1 WHEN x < 0.995 THEN 2 ELSE 3 END
          WHEN 'FAILED' THEN 3 WHEN 'CANCELLED' THEN 1 ELSE 0
        END,
        CASE WHEN outcome IN ('SUCCESS', 'CONNECTION_REVERSED') THEN CASE WHEN (protocols = '{}' AND y < 0.5) OR 461 = ANY(protocols) THEN 'quic-v1' ELSE 'tcp' END END,
        CASE WHEN outcome IN ('SUCCESS', 'CONNECTION_REVERSED') THEN CASE WHEN k % 5 = 0 THEN 6 ELSE 4 END END,
        sha256(int8send(g)), at
      FROM (
        SELECT g, x, y,
          1 + floor(v * ${size.clientHosts})::int AS client_id,
          CASE WHEN w < 0.5 THEN 1 + floor(2 * w * ${size.candidates})::bigint
               ELSE ${size.candidates} + 1 + floor((2 * w - 1) * ${size.historicRemotes})::bigint END AS k,
          (CASE WHEN u < 0.60 THEN 'SUCCESS' WHEN u < 0.82 THEN 'FAILED' WHEN u < 0.90 THEN 'NO_CONNECTION'
                WHEN u < 0.94 THEN 'NO_STREAM' WHEN u < 0.97 THEN 'CONNECTION_REVERSED' WHEN u < 0.99 THEN 'CANCELLED'
                ELSE 'UNKNOWN' END)::hole_punch_outcome AS outcome,
          (CASE WHEN y < 0.40 THEN '{}' WHEN y < 0.55 THEN '{4,6}' WHEN y < 0.70 THEN '{4,461}'
                WHEN y < 0.85 THEN '{41,6}' ELSE '{41,461}' END)::int[] AS protocols,
          now() - interval '${size.days} days' * (greatest(0, ${size.results} - g)::float8 / ${size.results}) AS at
        FROM (SELECT g, random() u, random() v, random() w, random() x, random() y
              FROM generate_series(${lo}::bigint, ${hi}::bigint) g OFFSET 0) r) s`,
    first,
  )
  await runner.chunked(
    'hole_punch_report_digests',
    last - first + 1,
    1,
    (lo, hi) => `INSERT INTO hole_punch_report_digests (report_sha256, created_at)
      SELECT report_sha256, created_at FROM hole_punch_results WHERE id BETWEEN ${lo} AND ${hi}`,
    first,
  )

  // Details for every n-th result (n = 1 / detailFraction), so that every stage of a growing
  // table has the same share.
  const every = Math.max(1, Math.round(1 / size.detailFraction))
  const detailed = `r.id % ${every} = 0`
  const ids = last - first + 1
  const hasConnection = `r.outcome NOT IN ('NO_CONNECTION', 'UNKNOWN')`
  await runner.chunked(
    'hole_punch_results_x_multi_addresses (INITIAL, FINAL)',
    ids,
    3.5 / every,
    (
      lo,
      hi,
    ) => `INSERT INTO hole_punch_results_x_multi_addresses (hole_punch_result_id, multi_address_id, relationship,
        result_created_at)
      SELECT r.id, ${L.relayAddr(L.relay1('r.remote_id'), 't')}, 'INITIAL'::multi_address_relationship, r.created_at
        FROM hole_punch_results r, generate_series(0, 1) t WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed}
      UNION ALL
      SELECT r.id, ${L.relayAddr(L.relay1('r.remote_id'), 0)}, 'FINAL'::multi_address_relationship, r.created_at
        FROM hole_punch_results r WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed} AND ${hasConnection}
      UNION ALL
      SELECT r.id, ${L.publicAddr('r.remote_id', `CASE WHEN r.final_transport = 'tcp' THEN 0 ELSE 1 END`)}, 'FINAL',
        r.created_at
        FROM hole_punch_results r WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed} AND r.has_direct_conns`,
    first,
  )
  await runner.chunked(
    'hole_punch_results_x_listen_multi_addresses',
    ids,
    2 / every,
    (
      lo,
      hi,
    ) => `INSERT INTO hole_punch_results_x_listen_multi_addresses (hole_punch_result_id, multi_address_id,
        result_created_at)
      SELECT r.id, ${L.hostAddr('r.client_id - 1', 't')}, r.created_at FROM hole_punch_results r, generate_series(0, 1) t
      WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed}`,
    first,
  )
  await runner.chunked(
    'hole_punch_attempts',
    ids,
    1.3 / every,
    (
      lo,
      hi,
    ) => `INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, started_at, ended_at,
        start_rtt, elapsed_time, outcome, error, direct_dial_error, result_created_at)
      SELECT id, n, opened, opened + interval '1 second' * rtt, opened + interval '1 second' * elapsed, rtt, elapsed, outcome,
        CASE outcome WHEN 'FAILED' THEN 'all dials failed' WHEN 'TIMEOUT' THEN 'hole punch timed out'
          WHEN 'CANCELLED' THEN 'context canceled' END,
        CASE WHEN outcome IN ('FAILED', 'TIMEOUT') AND n = 1 THEN 'dial tcp: i/o timeout' END, created_at
      FROM (
        SELECT r.id, r.created_at, n, r.connect_ended_at + interval '6 s' * (n - 1) + interval '200 ms' AS opened,
          0.02 + 0.3 * random() AS rtt,
          CASE WHEN r.outcome = 'SUCCESS' AND n = r.attempt_count THEN 0.3 + random() ELSE 5.0 END AS elapsed,
          (CASE
            WHEN r.outcome = 'SUCCESS' AND n = r.attempt_count THEN 'SUCCESS'
            WHEN r.outcome = 'CANCELLED' THEN 'CANCELLED'
            WHEN (r.id + n) % 4 = 0 THEN 'TIMEOUT'
            ELSE 'FAILED' END)::hole_punch_attempt_outcome AS outcome
        FROM hole_punch_results r, generate_series(1, r.attempt_count) n
        WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed} OFFSET 0) a`,
    first,
  )
  await runner.chunked(
    'hole_punch_attempts_x_multi_addresses',
    ids,
    2.6 / every,
    (lo, hi) => `INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, multi_address_id,
        result_created_at)
      SELECT a.id, ${L.publicAddr('r.remote_id', 't')}, a.result_created_at
      FROM hole_punch_attempts a JOIN hole_punch_results r ON r.id = a.hole_punch_result_id
        AND r.created_at = a.result_created_at, generate_series(0, 1) t
      WHERE a.hole_punch_result_id BETWEEN ${lo} AND ${hi}`,
    first,
  )
  // Latency: to the relay and to the remote through it for every result with a connection, to
  // the remote directly after a successful punch. Five pings each.
  await runner.chunked(
    'latency_measurements',
    ids,
    2.5 / every,
    (
      lo,
      hi,
    ) => `INSERT INTO latency_measurements (hole_punch_result_id, remote_id, multi_address_id, mtype, agent_version,
        protocols, rtts, rtt_errs, rtt_avg, rtt_min, rtt_max, rtt_std, success_count, result_created_at)
      SELECT id, peer, addr, mtype, agent, protos,
        ARRAY[b, b * 1.05, b * 0.97, b * 1.1, b * 1.02], ARRAY['', '', '', '', ''],
        b * 1.028, b * 0.97, b * 1.1, b * 0.0454, 5, created_at
      FROM (
        SELECT r.id, r.created_at, m.mtype,
          CASE WHEN m.mtype = 'TO_RELAY' THEN ${L.relay0} + 1 + ${L.relay1('r.remote_id')} ELSE r.remote_id END AS peer,
          CASE m.mtype
            WHEN 'TO_RELAY' THEN ${L.relayDirect0} + ${L.relayAddr(L.relay1('r.remote_id'), 0)}
            WHEN 'TO_REMOTE_THROUGH_RELAY' THEN ${L.relayAddr(L.relay1('r.remote_id'), 0)}
            ELSE ${L.publicAddr('r.remote_id', `CASE WHEN r.final_transport = 'tcp' THEN 0 ELSE 1 END`)}
          END AS addr,
          CASE WHEN m.mtype = 'TO_RELAY' THEN 'kubo/0.26.0/' ELSE (${REMOTE_AGENTS})[1 + r.remote_id % 7] END AS agent,
          CASE WHEN m.mtype = 'TO_RELAY' THEN ARRAY['/ipfs/id/1.0.0', '/libp2p/circuit/relay/0.2.0/hop'] ELSE ${REMOTE_PROTOCOLS} END AS protos,
          (CASE WHEN m.mtype = 'TO_REMOTE_THROUGH_RELAY' THEN 0.1 ELSE 0.02 END) + 0.2 * random() AS b
        FROM hole_punch_results r,
          unnest(ARRAY['TO_RELAY', 'TO_REMOTE_THROUGH_RELAY', 'TO_REMOTE_AFTER_HOLE_PUNCH']::latency_measurement_type[]) AS m(mtype)
        WHERE r.id BETWEEN ${lo} AND ${hi} AND ${detailed} AND ${hasConnection}
          AND (m.mtype <> 'TO_REMOTE_AFTER_HOLE_PUNCH' OR r.has_direct_conns)
        OFFSET 0) s`,
    first,
  )
}

/** Sequences past the seeded ids; VACUUM ANALYZE unless switched off. */
async function finishSeeding(db: Database, size: SeedSize, runner: StepRunner): Promise<void> {
  // ---- sequences, statistics --------------------------------------------------------------
  await runner.step('sequences', 0, () =>
    db.query(`SELECT
      setval(pg_get_serial_sequence('peers', 'id'), (SELECT max(id) FROM peers)),
      setval(pg_get_serial_sequence('multi_addresses', 'id'), (SELECT max(id) FROM multi_addresses)),
      setval(pg_get_serial_sequence('clients', 'id'), (SELECT max(id) FROM clients)),
      setval(pg_get_serial_sequence('connection_events', 'id'), (SELECT max(id) FROM connection_events)),
      setval(pg_get_serial_sequence('hole_punch_results', 'id'), (SELECT max(id) FROM hole_punch_results))`),
  )
  // What autovacuum would have done by now on a live PostgreSQL (PGlite has no autovacuum):
  // statistics for the planner and visibility maps for index-only scans.
  if (size.vacuum) await runner.step('VACUUM ANALYZE', 0, () => db.query('VACUUM ANALYZE'))
  else runner.log('  (no VACUUM ANALYZE: --no-vacuum)')
}

/**
 * Grows hole_punch_results of a seeded database to `upTo` rows (the ids after the current
 * highest, so rows the server stored meanwhile stay), with the same detail share, then sets the
 * sequences and vacuums as seed() does. Returns the steps run.
 */
export async function growResults(
  db: Database,
  seeded: SeedResult,
  upTo: number,
  log: Log,
): Promise<SeedResult['steps']> {
  const size = seeded.layout.size
  const runner = new StepRunner(db, size.chunk, log)
  const [row] = await db.query<{ n: string | number; top: string | number | null }>(
    'SELECT count(*) AS n, max(id) AS top FROM hole_punch_results',
  )
  const stored = Number(row!.n)
  if (upTo > stored) {
    const first = Number(row!.top ?? 0) + 1
    await insertResults(db, seeded.layout, runner, first, first + (upTo - stored) - 1)
  }
  await finishSeeding(db, size, runner)
  return runner.steps
}

/**
 * Runs one bulk INSERT with foreign-key triggers off (session_replication_role = replica, for
 * this transaction only): the layout guarantees the references, and checking them row by row
 * would make seeding several times slower.
 */
async function bulk(db: Database, sql: string, params: unknown[] = []): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL session_replication_role = replica')
    await tx.query(sql, params)
  })
}

function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 12)
}

function ipv4Plus(base: string, n: number): string {
  const v = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + n
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.')
}

/**
 * Moves every candidate's last_seen_at into the last two minutes, as a running honeypot keeps
 * doing, so that none ages out of the 10-minute window during a measurement; then vacuums the
 * table (autovacuum would, after such a burst of updates).
 */
export async function refreshCandidates(db: Database, vacuum = true): Promise<void> {
  await db.query(`UPDATE remote_candidates SET last_seen_at = now() - interval '2 minutes' * random()`)
  if (vacuum) await db.query('VACUUM ANALYZE remote_candidates')
}

export interface RemoteSample {
  id: string
  relayAddrs: string[]
  publicAddrs: string[]
  relayId: string
  relayDirectAddr: string
}

/** A random sample of candidate remotes with their addrs, to build realistic reports from. */
export async function sampleRemotes(db: Database, layout: Layout, count: number): Promise<RemoteSample[]> {
  const rows = await db.query<{
    multi_hash: string
    relay_addrs: string[]
    public_addrs: string[]
    relay_id: string
    relay_direct: string
  }>(
    `SELECT p.multi_hash,
       ARRAY(SELECT ma.maddr FROM unnest(rc.relay_multi_address_ids) WITH ORDINALITY AS x(id, o)
             JOIN multi_addresses ma ON ma.id = x.id ORDER BY x.o) AS relay_addrs,
       ARRAY(SELECT ma.maddr FROM multi_addresses ma
             WHERE ma.id IN (${layout.publicAddr('rc.peer_id', 0)}, ${layout.publicAddr('rc.peer_id', 1)}) ORDER BY ma.id) AS public_addrs,
       (SELECT multi_hash FROM peers WHERE id = ${layout.relay0} + 1 + ${layout.relay1('rc.peer_id')}) AS relay_id,
       (SELECT maddr FROM multi_addresses WHERE id = ${layout.relayDirect0} + ${layout.relayAddr(layout.relay1('rc.peer_id'), 0)}) AS relay_direct
     FROM remote_candidates rc JOIN peers p ON p.id = rc.peer_id
     ORDER BY random() LIMIT ${count}`,
  )
  return rows.map((r) => ({
    id: r.multi_hash,
    relayAddrs: r.relay_addrs,
    publicAddrs: r.public_addrs,
    relayId: r.relay_id,
    relayDirectAddr: r.relay_direct,
  }))
}
