import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import { RecentMap } from '../lib/recent-map.js'
import { type Database, type Queryable, retryConflicts } from './database.js'
import {
  type HolePunchReport,
  RTT_SERIES,
  type RttKind,
  resultGroups,
  rttAggregates,
  type Timestamp,
} from './hole-punches.js'
import type { GeoResolver } from './multi-addresses.js'
import { upsertMultiAddresses } from './multi-addresses.js'
import { createResultPartitions } from './partitions.js'
import { jsonbArray, upsertPeerIds } from './peers.js'

// Storing reports, many at once (the server's group commit, src/server/group-commit.ts). A batch
// is one statement of data-modifying CTEs: its results and every row hanging off them, each
// table one multi-row part whatever the batch's size, and the rollups (hourly counts, RTT
// histograms, last results) added once per batch and key, so no rollup row is locked per
// report. Only peers and addresses not known yet cost statements before it, in one
// transaction with it; a batch whose ids are all known is that one statement and nothing else
// (docs/ARCHITECTURE.md, "Storing reports").

/** What stored reports are dated by; the server leaves it out (the transaction's start). */
export interface StoreOptions {
  /** Test data sets dated in the past: everything derived from the time follows it. */
  createdAt?: Timestamp
  /** The ids of peers and addresses stored before, to skip their lookups (the server keeps one per database). */
  known?: KnownIds
}

/**
 * The ids of the peers (by base58 multihash) and addresses (by text) of one database that
 * batches stored or found before. Rows of `peers` and `multi_addresses` are never deleted or
 * renumbered, so an id once committed stays right, and a batch whose peers and addresses are
 * all known skips the statements that look them up, and the transaction around them: it is
 * one statement, one round trip.
 */
export class KnownIds {
  readonly peers = new RecentMap<number>(50_000)
  readonly addresses = new RecentMap<number>(50_000)
}

/** Ids a batch looked up, kept only once its transaction committed. */
interface LearntIds {
  peers: Map<string, number>
  addresses: Map<string, number>
}

/**
 * Stores one report whole in one transaction. Returns its result id, or `undefined` when the
 * same report was stored before (a client retrying after a lost response).
 */
export async function insertHolePunchReport(
  db: Database,
  report: HolePunchReport,
  geo: GeoResolver,
  options: StoreOptions = {},
): Promise<number | undefined> {
  const [id] = await insertHolePunchReports(db, [report], geo, options)
  return id
}

/**
 * Stores `reports` at once, each whole, with what the dashboard reads instead of raw rows: the
 * result's facts (success attempt, client and remote geo), the copies of its time on attempts
 * and latencies, its host's and remote's last result time, its hourly counts and RTT
 * histogram bins, the remote's IP versions learnt and the host's listen IP versions. Returns,
 * per report in input order, the new result id, or `undefined` for a report stored before
 * (also an earlier copy in the same batch). Either all of them are stored or none.
 */
export async function insertHolePunchReports(
  db: Database,
  reports: readonly HolePunchReport[],
  geo: GeoResolver,
  options: StoreOptions = {},
): Promise<(number | undefined)[]> {
  if (reports.length === 0) return []
  const digests = reports.map((r) => Buffer.from(r.reportSha256).toString('hex'))
  // A copy of a report within the batch answers like a retry: its first copy is stored.
  const firstCopy = new Map<string, number>()
  for (const [i, digest] of digests.entries()) if (!firstCopy.has(digest)) firstCopy.set(digest, i)
  const batch = [...firstCopy.values()].map((i) => ({ report: reports[i]!, digest: digests[i]! }))
  const learnt: LearntIds = { peers: new Map(), addresses: new Map() }
  const store = async (q: Queryable) => {
    // The server's own time always has its month's partitions (src/db/partitions.ts); a time
    // asked for may be any month.
    if (options.createdAt !== undefined) await createResultPartitions(q, options.createdAt, options.createdAt)
    return insertBatch(q, await withIds(q, batch, geo, options.known, learnt), options.createdAt)
  }
  // One statement commits by itself: no BEGIN and COMMIT to wait for (two round trips of
  // four, each waiting its turn on a busy server's event loop).
  const stored =
    options.createdAt === undefined && allKnown(batch, options.known)
      ? await retryConflicts(() => store(db))
      : await db.transaction(store)
  // After the commit: an id inserted by a transaction rolled back would not exist.
  for (const [multiHash, id] of learnt.peers) options.known?.peers.set(multiHash, id)
  for (const [maddr, id] of learnt.addresses) options.known?.addresses.set(maddr, id)
  return digests.map((digest, i) => (firstCopy.get(digest) === i ? stored.get(digest) : undefined))
}

/** A report of the batch with the ids its rows refer to; `b` numbers it in the batch, from 1. */
interface BatchReport {
  b: number
  digest: string
  report: HolePunchReport
  remoteId: number
  initialIds: number[]
  finalIds: number[]
  listenIds: number[]
  attemptAddressIds: number[][]
  latencyAddressIds: number[]
  latencyPeerIds: number[]
}

/** Whether `known` holds every peer and address of the batch. */
function allKnown(batch: readonly { report: HolePunchReport }[], known: KnownIds | undefined): boolean {
  if (known === undefined) return false
  return batch.every(
    ({ report }) =>
      peersOf(report).every((multiHash) => known.peers.get(multiHash) !== undefined) &&
      addressGroups(report).every((group) => group.every((a) => known.addresses.get(a.maddr) !== undefined)),
  )
}

/** The peers a report names, in the order their ids are split back: the remote, then each latency's. */
function peersOf(report: HolePunchReport): string[] {
  return [report.remoteId, ...report.latencies.map((l) => l.remoteId)]
}

/**
 * The ids of every peer and address of the batch: from `known`, the others upserted (one
 * statement each for all of them).
 */
async function withIds(
  q: Queryable,
  batch: readonly { report: HolePunchReport; digest: string }[],
  geo: GeoResolver,
  known: KnownIds | undefined,
  learnt: LearntIds,
): Promise<BatchReport[]> {
  const peerIds = splitBy(
    await idsOf(
      batch.flatMap(({ report }) => peersOf(report)),
      (multiHash) => multiHash,
      known?.peers,
      learnt.peers,
      (missing) => upsertPeerIds(q, missing),
    ),
    batch.map(({ report }) => peersOf(report)),
  )
  // New addresses get their ids in the order reported ("first address with geo" is the lowest id).
  const groupsOf = batch.map(({ report }) => addressGroups(report))
  const addressIds = splitBy(
    await idsOf(
      groupsOf.flat(2),
      (address) => address.maddr,
      known?.addresses,
      learnt.addresses,
      (missing) => upsertMultiAddresses(q, missing, geo),
    ),
    groupsOf.map((groups) => groups.flat()),
  )
  return batch.map(({ report, digest }, i) => {
    const [initialIds, finalIds, listenIds, ...rest] = splitBy(addressIds[i]!, groupsOf[i]!)
    const [remoteId, ...latencyPeerIds] = peerIds[i]!
    return {
      b: i + 1,
      digest,
      report,
      remoteId: remoteId!,
      latencyPeerIds,
      initialIds: initialIds!,
      finalIds: finalIds!,
      listenIds: listenIds!,
      attemptAddressIds: rest.slice(0, -1),
      latencyAddressIds: rest.at(-1)!,
    }
  })
}

/**
 * The id of every item, in order: from `known` where it is there, the others from `store`
 * (one statement for all of them), which `learnt` keeps for `known` until the commit.
 */
async function idsOf<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  known: RecentMap<number> | undefined,
  learnt: Map<string, number>,
  store: (missing: T[]) => Promise<number[]>,
): Promise<number[]> {
  const ids = new Map<string, number>()
  const missing = new Map<string, T>()
  for (const item of items) {
    const key = keyOf(item)
    const id = known?.get(key)
    if (id !== undefined) ids.set(key, id)
    else missing.set(key, item)
  }
  if (missing.size > 0) {
    const stored = await store([...missing.values()])
    for (const [i, key] of [...missing.keys()].entries()) {
      ids.set(key, stored[i]!)
      learnt.set(key, stored[i]!)
    }
  }
  return items.map((item) => ids.get(keyOf(item))!)
}

/** The address lists of a report, in the order their ids are split back. */
function addressGroups(report: HolePunchReport): ClassifiedMultiaddr[][] {
  return [
    report.remoteMultiAddresses,
    report.openMultiAddresses,
    report.listenMultiAddresses,
    ...report.attempts.map((a) => a.multiAddresses),
    report.latencies.map((l) => l.multiAddress),
  ]
}

/** SQL: the first (lowest id) of the addresses `ids` (a bigint[]) that has geo data. */
const firstWithGeo = (ids: string) =>
  `SELECT country, asn FROM multi_addresses WHERE id = ANY(${ids}) AND (country IS NOT NULL OR asn IS NOT NULL) ORDER BY id LIMIT 1`

/**
 * The parameters of one statement: `add` keeps a value and returns its placeholder, so the
 * parts of a statement built one by one number theirs in one sequence.
 */
class Params {
  readonly values: unknown[] = []
  add(value: unknown, type: string): string {
    this.values.push(value)
    return `$${this.values.length}::${type}`
  }

  /** SQL: unnest() of one array parameter per column, each given as [value of a row, SQL array type]. */
  unnest<Row>(rows: readonly Row[], columns: readonly (readonly [(row: Row) => unknown, string])[]): string {
    return `unnest(${columns.map(([value, type]) => this.add(rows.map(value), type)).join(', ')})`
  }
}

/**
 * Writes the batch in one statement of data-modifying CTEs (each runs once, to completion,
 * whether read or not): the digests, the results of the reports whose digest is new, and what
 * hangs off those results: address links, attempts and their addresses, latencies, port
 * mappings, network information, NAT behaviours, what the batch teaches about its remotes'
 * and hosts' IP versions, the last result times and the hourly rollups. A report whose digest
 * was stored before inserts nothing: every other part takes its rows through `stored`, the
 * inserted results numbered as in the batch. Returns the new result ids by digest.
 */
async function insertBatch(
  q: Queryable,
  batch: readonly BatchReport[],
  createdAt: Timestamp | undefined,
): Promise<Map<string, number>> {
  const p = new Params()
  // The rows of a batch share one stored time: the transaction's start, or the one asked for.
  const stamp = `coalesce(${p.add(createdAt ?? null, 'timestamptz')}, now())`
  const ctes = [
    results(batch, stamp, p),
    addressLinks(batch, p),
    listenLinks(batch, p),
    attemptsWithAddresses(batch, p),
    remoteIpVersions(batch, p),
    latencies(batch, p),
    portMappings(batch, p),
    networkInformation(batch, p),
    natBehaviours(batch, p),
    clientListenIpVersions(batch, p),
    lastResults(batch, p),
  ].flatMap((part, i): [string, string][] =>
    part === undefined ? [] : typeof part === 'string' ? [[`w${i}`, part]] : Object.entries(part),
  )
  ctes.push(...Object.entries(rollups(batch, stamp, p, new Set(ctes.map(([name]) => name)))))
  const inserted = await q.query<{ id: string | number; digest: string }>(
    `WITH ${ctes.map(([name, sql]) => `${name} AS (${sql})`).join(',\n')}
     SELECT id, encode(report_sha256, 'hex') AS digest FROM results`,
    p.values,
    { prepare: true },
  )
  return new Map(inserted.map((row) => [row.digest, Number(row.id)]))
}

/**
 * The digests and result rows. A report is new when its digest is: hole_punch_report_digests
 * holds every digest ever stored (partitions cannot hold a unique key across months), so only
 * the reports whose digest row this statement inserts get a result row. The client's geo
 * comes from its listen addresses (behind a NAT the public one is the NAT's), the remote's
 * from the addresses it offered in its attempts: the INITIAL addresses of a result are relay
 * addresses, whose IP is the relay's.
 */
function results(
  batch: readonly BatchReport[],
  stamp: string,
  p: Params,
): { new_digests: string; results: string; stored: string } {
  const rows = batch.map((x) => {
    const final = finalConnection(x.report)
    return {
      digest: x.digest,
      client_id: x.report.clientId,
      remote_id: x.remoteId,
      connect_started_at: x.report.connectStartedAt,
      connect_ended_at: x.report.connectEndedAt,
      has_direct_conns: x.report.hasDirectConns,
      error: x.report.error,
      outcome: x.report.outcome,
      ended_at: x.report.endedAt,
      protocols: x.report.protocols,
      attempt_count: x.report.attempts.length,
      final_transport: final?.transport ?? null,
      final_ip_version: final?.ipVersion ?? null,
      success_attempt: successAttempt(x.report),
      listen_ids: x.listenIds,
      attempt_address_ids: x.attemptAddressIds.flat(),
      client_implementation: x.report.clientImplementation,
      quirks: x.report.quirks,
      client_nat_mapping: x.report.clientNatMapping ?? null,
    }
  })
  const recordset = p.add(JSON.stringify(rows), 'jsonb')
  return {
    new_digests: `INSERT INTO hole_punch_report_digests (report_sha256, created_at)
       SELECT decode(d.digest, 'hex'), ${stamp} FROM jsonb_to_recordset(${recordset}) AS d(digest text)
       -- In digest order: two batches holding copies of the same reports cannot deadlock.
       ORDER BY d.digest
       ON CONFLICT (report_sha256) DO NOTHING
       RETURNING report_sha256`,
    // Every column: the hourly counts are counted from these rows (rollups), which a
    // statement cannot read back from the table it inserted them into.
    results: `INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
       outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at,
       success_attempt, client_country, client_asn, remote_country, remote_asn, client_implementation, quirks,
       client_nat_mapping)
     SELECT r.client_id, r.remote_id, r.connect_started_at::timestamptz, r.connect_ended_at::timestamptz, r.has_direct_conns,
       r.error, r.outcome::hole_punch_outcome, r.ended_at::timestamptz, ${jsonbArray('r.protocols', 'integer')},
       r.attempt_count, r.final_transport, r.final_ip_version, decode(r.digest, 'hex'), ${stamp},
       r.success_attempt, client.country, client.asn, remote.country, remote.asn, r.client_implementation,
       ${jsonbArray('r.quirks', 'text')}, r.client_nat_mapping
     FROM new_digests JOIN jsonb_to_recordset(${recordset}) AS r(digest text, client_id bigint, remote_id bigint, connect_started_at text,
       connect_ended_at text, has_direct_conns boolean, error text, outcome text, ended_at text, protocols jsonb,
       attempt_count smallint, final_transport text, final_ip_version smallint, success_attempt smallint,
       listen_ids jsonb, attempt_address_ids jsonb, client_implementation text, quirks jsonb, client_nat_mapping text)
       ON decode(r.digest, 'hex') = new_digests.report_sha256
     LEFT JOIN LATERAL (${firstWithGeo(jsonbArray('r.listen_ids', 'bigint'))}) client ON true
     LEFT JOIN LATERAL (${firstWithGeo(jsonbArray('r.attempt_address_ids', 'bigint'))}) remote ON true
     ORDER BY r.digest
     RETURNING *`,
    stored: `SELECT results.id, results.created_at, d.b FROM results
       JOIN unnest(${p.add(
         batch.map((x) => x.digest),
         'text[]',
       )}) WITH ORDINALITY AS d(digest, b) ON decode(d.digest, 'hex') = results.report_sha256`,
  }
}

/** The relay addresses dialled (INITIAL) and the connections open at the end (FINAL). */
function addressLinks(batch: readonly BatchReport[], p: Params): string | undefined {
  const links = distinctRows(
    batch.flatMap((x) => [
      ...x.initialIds.map((id) => [x.b, id, 'INITIAL'] as const),
      ...x.finalIds.map((id) => [x.b, id, 'FINAL'] as const),
    ]),
  )
  return resultRows(
    'hole_punch_results_x_multi_addresses',
    links,
    ([b]) => b,
    [
      ['multi_address_id', ([, address]) => address, 'bigint[]'],
      // As text, cast in SQL: PGlite sends arrays only of the types it knows.
      ['relationship', ([, , relationship]) => relationship, 'text[]', 'multi_address_relationship'],
    ],
    p,
  )
}

function listenLinks(batch: readonly BatchReport[], p: Params): string | undefined {
  const links = distinctRows(batch.flatMap((x) => x.listenIds.map((id) => [x.b, id] as const)))
  return resultRows(
    'hole_punch_results_x_listen_multi_addresses',
    links,
    ([b]) => b,
    [['multi_address_id', ([, address]) => address, 'bigint[]']],
    p,
  )
}

/**
 * SQL: inserts `rows` into `table`, each hanging off the result of its report (`reportOf`, its
 * number in the batch): hole_punch_result_id and result_created_at come from the result the
 * statement inserted (none for a report stored before), the other columns from the rows, each
 * given as [column, value of a row, SQL array type, and the type to cast each value to, if any].
 */
function resultRows<Row>(
  table: string,
  rows: readonly Row[],
  reportOf: (row: Row) => number,
  columns: readonly (readonly [string, (row: Row) => unknown, string, string?])[],
  p: Params,
): string | undefined {
  if (rows.length === 0) return undefined
  const names = columns.map(([name]) => name)
  const values = p.unnest(rows, [
    [reportOf, 'integer[]'],
    ...columns.map(([, value, type]) => [value, type] as const),
  ])
  return `INSERT INTO ${table} (hole_punch_result_id, ${names.join(', ')}, result_created_at)
    SELECT s.id, ${columns.map(([name, , , cast]) => (cast === undefined ? `t.${name}` : `t.${name}::${cast}`)).join(', ')}, s.created_at
    FROM ${values} AS t(b, ${names.join(', ')}) JOIN stored s ON s.b = t.b`
}

/** The attempts, and the addresses each punched, joined to the attempt ids the insert returns. */
function attemptsWithAddresses(
  batch: readonly BatchReport[],
  p: Params,
): { attempt: string; attempt_addresses: string } | undefined {
  const attempts = batch.flatMap((x) =>
    x.report.attempts.map((a, i) => ({ b: x.b, number: i + 1, a, addressIds: x.attemptAddressIds[i]! })),
  )
  if (attempts.length === 0) return undefined
  const links = distinctRows(attempts.flatMap((x) => x.addressIds.map((id) => [x.b, x.number, id] as const)))
  return {
    attempt: `INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, started_at, ended_at, start_rtt,
        elapsed_time, outcome, error, direct_dial_error, result_created_at)
      SELECT s.id, t.n, t.o, t.s, t.e, t.rtt, t.el, t.oc::hole_punch_attempt_outcome, t.err, t.dde, s.created_at
      FROM ${p.unnest(attempts, [
        [(x) => x.b, 'integer[]'],
        [(x) => x.number, 'smallint[]'],
        [(x) => x.a.openedAt, 'timestamptz[]'],
        [(x) => x.a.startedAt, 'timestamptz[]'],
        [(x) => x.a.endedAt, 'timestamptz[]'],
        [(x) => x.a.startRtt, 'double precision[]'],
        [(x) => x.a.elapsedTime, 'double precision[]'],
        [(x) => x.a.outcome, 'text[]'],
        [(x) => x.a.error, 'text[]'],
        [(x) => x.a.directDialError, 'text[]'],
      ])} AS t(b, n, o, s, e, rtt, el, oc, err, dde) JOIN stored s ON s.b = t.b
      RETURNING id, hole_punch_result_id, attempt_number, result_created_at, outcome, start_rtt`,
    // The data-modifying CTE's RETURNING is the only way to see the new ids in this statement.
    attempt_addresses: `INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, multi_address_id,
      result_created_at)
    SELECT attempt.id, l.a, attempt.result_created_at
    FROM ${p.unnest(links, [
      [([b]) => b, 'integer[]'],
      [([, number]) => number, 'smallint[]'],
      [([, , address]) => address, 'bigint[]'],
    ])} AS l(b, n, a)
    JOIN stored s ON s.b = l.b
    JOIN attempt ON attempt.hole_punch_result_id = s.id AND attempt.attempt_number = l.n`,
  }
}

/**
 * The IP versions of the remote's public addresses its CONNECTs offered (those the client
 * punched) join the remote's `ip_versions`, which the protocol filter is drawn among
 * (src/server/routes/get-addr-info.ts): a NATed remote reached the honeypot over one version,
 * and an unfiltered round shows the others. Written only when it adds a version.
 */
function remoteIpVersions(batch: readonly BatchReport[], p: Params): string | undefined {
  const learnt = distinctRows(
    batch.flatMap((x) =>
      x.report.attempts
        .flatMap((a) => a.multiAddresses)
        .flatMap((a) =>
          a.isPublic && !a.isRelay && a.ipVersion !== null ? [[x.b, x.remoteId, a.ipVersion] as const] : [],
        ),
    ),
  )
  if (learnt.length === 0) return undefined
  return `UPDATE remote_candidates rc SET ip_versions = (
      SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(coalesce(rc.ip_versions, '{}') || n.versions) AS v)
    FROM (SELECT t.peer_id, array_agg(t.v) AS versions
          FROM ${p.unnest(learnt, [
            [([b]) => b, 'integer[]'],
            [([, remote]) => remote, 'bigint[]'],
            [([, , version]) => version, 'smallint[]'],
          ])} AS t(b, peer_id, v) JOIN stored s ON s.b = t.b GROUP BY t.peer_id) n
    WHERE rc.peer_id = n.peer_id AND NOT (coalesce(rc.ip_versions, '{}') @> n.versions)`
}

function latencies(batch: readonly BatchReport[], p: Params): { latency: string } | undefined {
  const rows = batch.flatMap((x) =>
    x.report.latencies.map((l, i) => {
      const agg = rttAggregates(l.rtts, l.rttErrs)
      return {
        b: x.b,
        remote_id: x.latencyPeerIds[i],
        address_id: x.latencyAddressIds[i],
        mtype: l.mtype,
        agent_version: l.agentVersion,
        protocols: l.protocols,
        rtts: l.rtts,
        rtt_errs: l.rttErrs,
        avg: agg.avg,
        min: agg.min,
        max: agg.max,
        std: agg.std,
        count: agg.count,
      }
    }),
  )
  if (rows.length === 0) return undefined
  // A JSON recordset: the RTT and protocol lists differ in length, which unnest() of arrays cannot express.
  return {
    latency: `INSERT INTO latency_measurements (hole_punch_result_id, remote_id, multi_address_id, mtype, agent_version, protocols,
      rtts, rtt_errs, rtt_avg, rtt_min, rtt_max, rtt_std, success_count, result_created_at)
    SELECT s.id, r.remote_id, r.address_id, r.mtype::latency_measurement_type, r.agent_version,
      ${jsonbArray('r.protocols', 'text')}, ${jsonbArray('r.rtts', 'double precision')}, ${jsonbArray('r.rtt_errs', 'text')},
      r.avg, r.min, r.max, r.std, r.count, s.created_at
    FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), 'jsonb')}) AS r(b integer, remote_id bigint, address_id bigint,
      mtype text, agent_version text, protocols jsonb, rtts jsonb, rtt_errs jsonb, avg double precision, min double precision,
      max double precision, std double precision, count smallint)
    JOIN stored s ON s.b = r.b
    RETURNING mtype, rtt_avg`,
  }
}

function portMappings(batch: readonly BatchReport[], p: Params): string | undefined {
  return resultRows(
    'port_mappings',
    batch.flatMap((x) => x.report.natMappings.map((m) => ({ b: x.b, ...m }))),
    (m) => m.b,
    [
      ['internal_port', (m) => m.internalPort, 'integer[]'],
      ['external_port', (m) => m.externalPort, 'integer[]'],
      ['protocol', (m) => m.protocol, 'text[]'],
      ['addr', (m) => m.addr, 'text[]'],
      ['addr_network', (m) => m.addrNetwork, 'text[]'],
    ],
    p,
  )
}

function networkInformation(batch: readonly BatchReport[], p: Params): string | undefined {
  return resultRows(
    'network_information',
    batch.flatMap((x) =>
      x.report.networkInformation === null ? [] : [{ b: x.b, ...x.report.networkInformation }],
    ),
    (n) => n.b,
    [
      ['router_login_html', (n) => n.routerLoginHtml, 'text[]'],
      ['router_login_html_error', (n) => n.routerLoginHtmlError, 'text[]'],
      ['supports_ipv6', (n) => n.supportsIpv6, 'boolean[]'],
      ['supports_ipv6_error', (n) => n.supportsIpv6Error, 'text[]'],
    ],
    p,
  )
}

function natBehaviours(batch: readonly BatchReport[], p: Params): string | undefined {
  return resultRows(
    'client_nat_behaviours',
    batch.flatMap((x) => (x.report.natBehaviours ?? []).map((nb) => ({ b: x.b, ...nb }))),
    (nb) => nb.b,
    [
      ['transport', (nb) => nb.transport, 'text[]'],
      ['ip_version', (nb) => nb.ipVersion, 'smallint[]'],
      ['mapping', (nb) => nb.mapping, 'text[]'],
      ['port_preserved', (nb) => nb.portPreserved, 'boolean[]'],
      ['observations', (nb) => nb.observations, 'smallint[]'],
      ['observer_ips', (nb) => nb.observerIps, 'smallint[]'],
    ],
    p,
  )
}

/**
 * What IP version filters a host can run from now on (src/server/client-capabilities.ts): the
 * versions of its newest report stored by the batch that lists its listen addresses.
 */
function clientListenIpVersions(batch: readonly BatchReport[], p: Params): string | undefined {
  const rows = batch.flatMap(({ b, report }) =>
    report.clientListenIpVersions === undefined
      ? []
      : [{ b, id: report.clientId, versions: report.clientListenIpVersions }],
  )
  if (rows.length === 0) return undefined
  return `UPDATE clients c SET listen_ip_versions = n.versions
    FROM (SELECT DISTINCT ON (r.id) r.id, ${jsonbArray('r.versions', 'smallint')} AS versions
          FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), 'jsonb')}) AS r(b integer, id bigint, versions jsonb)
          JOIN stored s ON s.b = r.b
          ORDER BY r.id, r.b DESC) n
    WHERE c.id = n.id AND c.listen_ip_versions IS DISTINCT FROM n.versions`
}

/** The host's and the remote's last result time, taken in key order. */
function lastResults(batch: readonly BatchReport[], p: Params): string {
  const last = distinctRows(
    batch.flatMap((x) => [['client', x.report.clientId, x.b] as const, ['remote', x.remoteId, x.b] as const]),
  )
  return `INSERT INTO last_results (role, id, created_at)
    SELECT t.role, t.id, max(s.created_at)
    FROM ${p.unnest(last, [
      [([role]) => role, 'text[]'],
      [([, id]) => id, 'bigint[]'],
      [([, , b]) => b, 'integer[]'],
    ])} AS t(role, id, b) JOIN stored s ON s.b = t.b
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (role, id) DO UPDATE SET created_at = greatest(last_results.created_at, EXCLUDED.created_at)`
}

/**
 * The hourly rollups, added once per batch and key: the RTT histogram bins (of the attempt and
 * latency rows this statement writes, from their RETURNING) and the hourly counts (of its
 * result rows, from theirs; the port mappings it writes, from the batch). Every batch of the
 * hour updates the same rows, whose locks are held until commit. The rows come in one order
 * (tables in the fixed order PostgreSQL runs the CTEs, each by primary key) in every batch,
 * so concurrent batches wait for each other briefly but cannot deadlock on them. The other
 * rows a batch writes are its own, except peer and address rows, which honeypot batches write
 * too (taken in peer ID and address order: peers.ts, multi-addresses.ts), and the
 * last-result, remote-candidate and client rows other batches may share; a deadlock left there
 * is retried (retryConflicts in database.ts).
 */
function rollups(
  batch: readonly BatchReport[],
  stamp: string,
  p: Params,
  written: ReadonlySet<string>,
): Record<string, string> {
  const series = Object.entries(RTT_SERIES).flatMap(([kind, s]) => {
    const rows = SERIES_ROWS[kind as RttKind]
    // A batch without attempts (or latencies) has no such CTE.
    return !written.has(rows)
      ? []
      : [
          `SELECT '${kind}' AS kind, ${s.group}::text AS name, rtt_bin(${s.value}) AS bin FROM ${rows} ${s.alias} WHERE ${s.where}`,
        ]
  })
  const groups = resultGroups('port_mapped')
  return {
    ...(series.length === 0
      ? {}
      : {
          histograms: `INSERT INTO rtt_histograms (kind, name, hour, bin, n)
            SELECT kind, name, ${utcHour(stamp)}, bin, count(*) FROM (${series.join(' UNION ALL ')}) v
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (kind, name, hour, bin) DO UPDATE SET n = rtt_histograms.n + EXCLUDED.n`,
        }),
    port_mapped: `SELECT s.id AS hole_punch_result_id FROM stored s WHERE s.b = ANY(${p.add(
      batch.filter((x) => x.report.natMappings.length > 0).map((x) => x.b),
      'integer[]',
    )})`,
    counts: `INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
      SELECT d.dimension, ${utcHour('r.created_at')}, d.key, r.outcome, count(*)
      FROM results r CROSS JOIN LATERAL (VALUES ${Object.entries(groups)
        .map(([dimension, key]) => `('${dimension}', ${key})`)
        .join(', ')}) AS d(dimension, key)
      WHERE d.key IS NOT NULL
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT (dimension, hour, key, outcome) DO UPDATE SET results = hole_punch_result_counts.results + EXCLUDED.results`,
  }
}

/** The CTE of the batch's statement whose RETURNING holds each RTT series' rows. */
const SERIES_ROWS: Record<RttKind, string> = { 'start-rtt': 'attempt', latency: 'latency' }

/** SQL: the start of the UTC hour of a timestamptz, the time key of the hourly tables. */
const utcHour = (column: string) => `(date_trunc('hour', ${column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`

/** The direct (non-relay) connection at the end decides the transport a success ended on. */
function finalConnection(report: HolePunchReport): ClassifiedMultiaddr | undefined {
  return report.openMultiAddresses.find((a) => !a.isRelay)
}

/** The first attempt that succeeded: SUCCESS, or DIRECT_DIAL (our own dial of a public address). */
function successAttempt(report: HolePunchReport): number | null {
  const index = report.attempts.findIndex((a) => a.outcome === 'SUCCESS' || a.outcome === 'DIRECT_DIAL')
  return index === -1 ? null : index + 1
}

/** Rows without repeats (a link listed twice is one link), in first-seen order. */
function distinctRows<Row extends readonly (string | number)[]>(rows: readonly Row[]): Row[] {
  const seen = new Map<string, Row>()
  for (const row of rows) {
    const key = row.join('\u0000')
    if (!seen.has(key)) seen.set(key, row)
  }
  return [...seen.values()]
}

/** Cuts `flat` into consecutive pieces as long as each of `groups`. */
function splitBy<T>(flat: readonly T[], groups: readonly (readonly unknown[])[]): T[][] {
  let at = 0
  return groups.map((g) => {
    at += g.length
    return flat.slice(at - g.length, at)
  })
}
