import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import { RecentMap } from '../lib/recent-map.js'
import type { Database, Queryable } from './database.js'
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

// Storing reports, many in one transaction (the server's group commit, src/server/group-commit.ts).
// Every table gets one multi-row part of a statement per batch, whatever its size, and the
// statements are few (two to five: peers and addresses only when some are not known yet, the
// results, then everything else in one), so a batch of 50 reports costs about as many round
// trips as one report; the rollups (hourly counts, RTT histograms, last results) are added
// once per batch and key, so no rollup row is locked per report (docs/ARCHITECTURE.md,
// "Storing reports").

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
 * all known skips the statements that look them up: two or three of its round trips.
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
 * Stores `reports` in one transaction, each whole, with what the dashboard reads instead of
 * raw rows: the result's facts (success attempt, client and remote geo), the copies of its time
 * on attempts and latencies, its host's and remote's last result time, its hourly counts and
 * RTT histogram bins, the remote's IP versions learnt and the host's listen IP versions.
 * Returns, per report in input order, the new result id, or `undefined` for a report stored
 * before (also an earlier copy in the same batch). Either all of them are stored or none.
 */
export async function insertHolePunchReports(
  db: Database,
  reports: readonly HolePunchReport[],
  geo: GeoResolver,
  options: StoreOptions = {},
): Promise<(number | undefined)[]> {
  if (reports.length === 0) return []
  const { ids, learnt } = await db.transaction(async (tx) => {
    const learnt: LearntIds = { peers: new Map(), addresses: new Map() }
    // The server's own time always has its month's partitions (src/db/partitions.ts); a time
    // asked for may be any month.
    if (options.createdAt !== undefined)
      await createResultPartitions(tx, options.createdAt, options.createdAt)
    const digests = reports.map((r) => Buffer.from(r.reportSha256).toString('hex'))
    // A copy of a report within the batch answers like a retry: its first copy is stored.
    const firstCopy = new Map<string, number>()
    for (const [i, digest] of digests.entries()) if (!firstCopy.has(digest)) firstCopy.set(digest, i)
    const batch = [...firstCopy.values()].map((i) => ({ report: reports[i]!, digest: digests[i]! }))

    const stored = await insertResults(tx, batch, geo, options, learnt)
    const ids = digests.map((digest, i) =>
      firstCopy.get(digest) === i ? stored.get(digest)?.resultId : undefined,
    )
    const fresh = [...stored.values()]
    if (fresh.length === 0) return { ids, learnt }
    // One time for the whole batch: the transaction's start, or the one asked for.
    const createdAt = fresh[0]!.createdAt
    await insertChildren(tx, fresh, createdAt)
    return { ids, learnt }
  })
  // After the commit: an id inserted by a transaction rolled back would not exist.
  for (const [multiHash, id] of learnt.peers) options.known?.peers.set(multiHash, id)
  for (const [maddr, id] of learnt.addresses) options.known?.addresses.set(maddr, id)
  return ids
}

/** A report whose result row was inserted, with the ids its other rows refer to. */
interface StoredReport {
  report: HolePunchReport
  resultId: number
  remoteId: number
  createdAt: Timestamp
  initialIds: number[]
  finalIds: number[]
  listenIds: number[]
  attemptAddressIds: number[][]
  latencyAddressIds: number[]
  latencyPeerIds: number[]
}

/**
 * Upserts every peer and address of the batch (one statement each), then the result rows; a
 * report whose digest is stored already inserts nothing. Returns the inserted ones by digest.
 */
async function insertResults(
  tx: Queryable,
  batch: readonly { report: HolePunchReport; digest: string }[],
  geo: GeoResolver,
  { createdAt, known }: StoreOptions,
  learnt: LearntIds,
): Promise<Map<string, StoredReport>> {
  const peerIds = await idsOf(
    batch.flatMap(({ report }) => [report.remoteId, ...report.latencies.map((l) => l.remoteId)]),
    (multiHash) => multiHash,
    known?.peers,
    learnt.peers,
    (missing) => upsertPeerIds(tx, missing),
  )
  const peersOf = splitBy(
    peerIds,
    batch.map(({ report }) => [report.remoteId, ...report.latencies]),
  )
  // New addresses get their ids in the order reported ("first address with geo" is the lowest id).
  const groupsOf = batch.map(({ report }) => addressGroups(report))
  const addressIds = splitBy(
    await idsOf(
      groupsOf.flat(2),
      (address) => address.maddr,
      known?.addresses,
      learnt.addresses,
      (missing) => upsertMultiAddresses(tx, missing, geo),
    ),
    groupsOf.map((groups) => groups.flat()),
  )
  const prepared = batch.map(({ report, digest }, i) => {
    const [initialIds, finalIds, listenIds, ...rest] = splitBy(addressIds[i]!, groupsOf[i]!)
    const [remoteId, ...latencyPeerIds] = peersOf[i]!
    return {
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
  const rows = prepared.map((p) => {
    const final = finalConnection(p.report)
    return {
      digest: p.digest,
      client_id: p.report.clientId,
      remote_id: p.remoteId,
      connect_started_at: p.report.connectStartedAt,
      connect_ended_at: p.report.connectEndedAt,
      has_direct_conns: p.report.hasDirectConns,
      error: p.report.error,
      outcome: p.report.outcome,
      ended_at: p.report.endedAt,
      protocols: p.report.protocols,
      attempt_count: p.report.attempts.length,
      final_transport: final?.transport ?? null,
      final_ip_version: final?.ipVersion ?? null,
      success_attempt: successAttempt(p.report),
      listen_ids: p.listenIds,
      attempt_address_ids: p.attemptAddressIds.flat(),
      client_implementation: p.report.clientImplementation,
      quirks: p.report.quirks,
      client_nat_mapping: p.report.clientNatMapping ?? null,
    }
  })
  // A report is new when its digest is: hole_punch_report_digests holds every digest ever
  // stored (partitions cannot hold a unique key across months), so only the reports whose
  // digest row this statement inserts get a result row.
  // The client's geo comes from its listen addresses (behind a NAT the public one is the
  // NAT's), the remote's from the addresses it offered in its attempts: the INITIAL addresses
  // of a result are relay addresses, whose IP is the relay's.
  const inserted = await tx.query<{ id: string | number; digest: string; created_at: string }>(
    `WITH new_digests AS (
       INSERT INTO hole_punch_report_digests (report_sha256, created_at)
       SELECT decode(d.digest, 'hex'), coalesce($2::timestamptz, now()) FROM jsonb_to_recordset($1::jsonb) AS d(digest text)
       -- In digest order: two batches holding copies of the same reports cannot deadlock.
       ORDER BY d.digest
       ON CONFLICT (report_sha256) DO NOTHING
       RETURNING report_sha256
     )
     INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
       outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at,
       success_attempt, client_country, client_asn, remote_country, remote_asn, client_implementation, quirks,
       client_nat_mapping)
     SELECT r.client_id, r.remote_id, r.connect_started_at::timestamptz, r.connect_ended_at::timestamptz, r.has_direct_conns,
       r.error, r.outcome::hole_punch_outcome, r.ended_at::timestamptz, ${jsonbArray('r.protocols', 'integer')},
       r.attempt_count, r.final_transport, r.final_ip_version, decode(r.digest, 'hex'), coalesce($2::timestamptz, now()),
       r.success_attempt, client.country, client.asn, remote.country, remote.asn, r.client_implementation,
       ${jsonbArray('r.quirks', 'text')}, r.client_nat_mapping
     FROM new_digests JOIN jsonb_to_recordset($1::jsonb) AS r(digest text, client_id bigint, remote_id bigint, connect_started_at text,
       connect_ended_at text, has_direct_conns boolean, error text, outcome text, ended_at text, protocols jsonb,
       attempt_count smallint, final_transport text, final_ip_version smallint, success_attempt smallint,
       listen_ids jsonb, attempt_address_ids jsonb, client_implementation text, quirks jsonb, client_nat_mapping text)
       ON decode(r.digest, 'hex') = new_digests.report_sha256
     LEFT JOIN LATERAL (${firstWithGeo(jsonbArray('r.listen_ids', 'bigint'))}) client ON true
     LEFT JOIN LATERAL (${firstWithGeo(jsonbArray('r.attempt_address_ids', 'bigint'))}) remote ON true
     ORDER BY r.digest
     RETURNING id, encode(report_sha256, 'hex') AS digest, created_at::text AS created_at`,
    [JSON.stringify(rows), createdAt ?? null],
    { prepare: true },
  )
  const insertedBy = new Map(inserted.map((row) => [row.digest, row]))
  // In the batch's order, not RETURNING's: "the newest report of a host" means the last to arrive.
  const stored = new Map<string, StoredReport>()
  for (const p of prepared) {
    const row = insertedBy.get(p.digest)
    // The stored time as text round-trips with its microseconds (a JS Date would drop them).
    if (row !== undefined) stored.set(p.digest, { ...p, resultId: Number(row.id), createdAt: row.created_at })
  }
  return stored
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
 * Writes every row of the batch that hangs off its results, in one statement of data-modifying
 * CTEs (each runs once, to completion, whether read or not): address links, attempts and their
 * addresses, latencies, port mappings, network information, NAT behaviours, what the batch teaches about its
 * remotes' and hosts' IP versions, the last result times and the hourly rollups. One round
 * trip instead of a dozen: on a busy server each round trip waits for its turn on the event
 * loop.
 */
async function insertChildren(
  tx: Queryable,
  fresh: readonly StoredReport[],
  createdAt: Timestamp,
): Promise<void> {
  const p = new Params()
  const ctes = [
    addressLinks(fresh, createdAt, p),
    listenLinks(fresh, createdAt, p),
    attemptsWithAddresses(fresh, createdAt, p),
    remoteIpVersions(fresh, p),
    latencies(fresh, createdAt, p),
    portMappings(fresh, createdAt, p),
    networkInformation(fresh, createdAt, p),
    natBehaviours(fresh, createdAt, p),
    clientListenIpVersions(fresh, p),
    lastResults(fresh, createdAt, p),
  ].flatMap((part, i): [string, string][] =>
    part === undefined ? [] : typeof part === 'string' ? [[`w${i}`, part]] : Object.entries(part),
  )
  ctes.push(...Object.entries(rollups(fresh, createdAt, p, new Set(ctes.map(([name]) => name)))))
  await tx.query(`WITH ${ctes.map(([name, sql]) => `${name} AS (${sql})`).join(',\n')} SELECT 1`, p.values, {
    prepare: true,
  })
}

/** The relay addresses dialled (INITIAL) and the connections open at the end (FINAL). */
function addressLinks(fresh: readonly StoredReport[], createdAt: Timestamp, p: Params): string | undefined {
  const links = distinctRows(
    fresh.flatMap((s) => [
      ...s.initialIds.map((id) => [s.resultId, id, 'INITIAL'] as const),
      ...s.finalIds.map((id) => [s.resultId, id, 'FINAL'] as const),
    ]),
  )
  if (links.length === 0) return undefined
  return `INSERT INTO hole_punch_results_x_multi_addresses (hole_punch_result_id, multi_address_id, relationship,
      result_created_at)
    SELECT r, a, rel::multi_address_relationship, ${p.add(createdAt, 'timestamptz')}
    FROM ${p.unnest(links, [
      [([result]) => result, 'bigint[]'],
      [([, address]) => address, 'bigint[]'],
      [([, , relationship]) => relationship, 'text[]'],
    ])} AS t(r, a, rel)`
}

function listenLinks(fresh: readonly StoredReport[], createdAt: Timestamp, p: Params): string | undefined {
  const links = distinctRows(fresh.flatMap((s) => s.listenIds.map((id) => [s.resultId, id] as const)))
  if (links.length === 0) return undefined
  return `INSERT INTO hole_punch_results_x_listen_multi_addresses (hole_punch_result_id, multi_address_id,
      result_created_at)
    SELECT r, a, ${p.add(createdAt, 'timestamptz')} FROM ${p.unnest(links, [
      [([result]) => result, 'bigint[]'],
      [([, address]) => address, 'bigint[]'],
    ])} AS t(r, a)`
}

/** The attempts, and the addresses each punched, joined to the attempt ids the insert returns. */
function attemptsWithAddresses(
  fresh: readonly StoredReport[],
  createdAt: Timestamp,
  p: Params,
): { attempt: string; attempt_addresses: string } | undefined {
  const attempts = fresh.flatMap((s) =>
    s.report.attempts.map((a, i) => ({
      resultId: s.resultId,
      number: i + 1,
      a,
      addressIds: s.attemptAddressIds[i]!,
    })),
  )
  if (attempts.length === 0) return undefined
  const links = distinctRows(
    attempts.flatMap((x) => x.addressIds.map((id) => [x.resultId, x.number, id] as const)),
  )
  return {
    attempt: `INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, started_at, ended_at, start_rtt,
        elapsed_time, outcome, error, direct_dial_error, result_created_at)
      SELECT r, n, o, s, e, rtt, el, oc::hole_punch_attempt_outcome, err, dde, ${p.add(createdAt, 'timestamptz')}
      FROM ${p.unnest(attempts, [
        [(x) => x.resultId, 'bigint[]'],
        [(x) => x.number, 'smallint[]'],
        [(x) => x.a.openedAt, 'timestamptz[]'],
        [(x) => x.a.startedAt, 'timestamptz[]'],
        [(x) => x.a.endedAt, 'timestamptz[]'],
        [(x) => x.a.startRtt, 'double precision[]'],
        [(x) => x.a.elapsedTime, 'double precision[]'],
        [(x) => x.a.outcome, 'text[]'],
        [(x) => x.a.error, 'text[]'],
        [(x) => x.a.directDialError, 'text[]'],
      ])} AS t(r, n, o, s, e, rtt, el, oc, err, dde)
      RETURNING id, hole_punch_result_id, attempt_number, result_created_at, outcome, start_rtt`,
    // The data-modifying CTE's RETURNING is the only way to see the new ids in this statement.
    attempt_addresses: `INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, multi_address_id,
      result_created_at)
    SELECT attempt.id, l.a, attempt.result_created_at
    FROM ${p.unnest(links, [
      [([result]) => result, 'bigint[]'],
      [([, number]) => number, 'smallint[]'],
      [([, , address]) => address, 'bigint[]'],
    ])} AS l(r, n, a)
    JOIN attempt ON attempt.hole_punch_result_id = l.r AND attempt.attempt_number = l.n`,
  }
}

/**
 * The IP versions of the remote's public addresses its CONNECTs offered (those the client
 * punched) join the remote's `ip_versions`, which the protocol filter is drawn among
 * (src/server/routes/get-addr-info.ts): a NATed remote reached the honeypot over one version,
 * and an unfiltered round shows the others. Written only when it adds a version.
 */
function remoteIpVersions(fresh: readonly StoredReport[], p: Params): string | undefined {
  const learnt = distinctRows(
    fresh.flatMap((s) =>
      s.report.attempts
        .flatMap((a) => a.multiAddresses)
        .flatMap((a) =>
          a.isPublic && !a.isRelay && a.ipVersion !== null ? [[s.remoteId, a.ipVersion] as const] : [],
        ),
    ),
  )
  if (learnt.length === 0) return undefined
  return `UPDATE remote_candidates rc SET ip_versions = (
      SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(coalesce(rc.ip_versions, '{}') || n.versions) AS v)
    FROM (SELECT peer_id, array_agg(v) AS versions
          FROM ${p.unnest(learnt, [
            [([remote]) => remote, 'bigint[]'],
            [([, version]) => version, 'smallint[]'],
          ])} AS t(peer_id, v) GROUP BY peer_id) n
    WHERE rc.peer_id = n.peer_id AND NOT (coalesce(rc.ip_versions, '{}') @> n.versions)`
}

function latencies(
  fresh: readonly StoredReport[],
  createdAt: Timestamp,
  p: Params,
): { latency: string } | undefined {
  const rows = fresh.flatMap((s) =>
    s.report.latencies.map((l, i) => {
      const agg = rttAggregates(l.rtts, l.rttErrs)
      return {
        result_id: s.resultId,
        remote_id: s.latencyPeerIds[i],
        address_id: s.latencyAddressIds[i],
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
    SELECT r.result_id, r.remote_id, r.address_id, r.mtype::latency_measurement_type, r.agent_version,
      ${jsonbArray('r.protocols', 'text')}, ${jsonbArray('r.rtts', 'double precision')}, ${jsonbArray('r.rtt_errs', 'text')},
      r.avg, r.min, r.max, r.std, r.count, ${p.add(createdAt, 'timestamptz')}
    FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), 'jsonb')}) AS r(result_id bigint, remote_id bigint, address_id bigint,
      mtype text, agent_version text, protocols jsonb, rtts jsonb, rtt_errs jsonb, avg double precision, min double precision,
      max double precision, std double precision, count smallint)
    RETURNING mtype, rtt_avg`,
  }
}

function portMappings(fresh: readonly StoredReport[], createdAt: Timestamp, p: Params): string | undefined {
  const mappings = fresh.flatMap((s) => s.report.natMappings.map((m) => ({ resultId: s.resultId, ...m })))
  if (mappings.length === 0) return undefined
  return `INSERT INTO port_mappings (hole_punch_result_id, internal_port, external_port, protocol, addr, addr_network,
      result_created_at)
    SELECT *, ${p.add(createdAt, 'timestamptz')} FROM ${p.unnest(mappings, [
      [(m) => m.resultId, 'bigint[]'],
      [(m) => m.internalPort, 'integer[]'],
      [(m) => m.externalPort, 'integer[]'],
      [(m) => m.protocol, 'text[]'],
      [(m) => m.addr, 'text[]'],
      [(m) => m.addrNetwork, 'text[]'],
    ])}`
}

function networkInformation(
  fresh: readonly StoredReport[],
  createdAt: Timestamp,
  p: Params,
): string | undefined {
  const infos = fresh.flatMap((s) =>
    s.report.networkInformation === null ? [] : [{ resultId: s.resultId, ...s.report.networkInformation }],
  )
  if (infos.length === 0) return undefined
  return `INSERT INTO network_information (hole_punch_result_id, router_login_html, router_login_html_error, supports_ipv6,
      supports_ipv6_error, result_created_at)
    SELECT *, ${p.add(createdAt, 'timestamptz')} FROM ${p.unnest(infos, [
      [(n) => n.resultId, 'bigint[]'],
      [(n) => n.routerLoginHtml, 'text[]'],
      [(n) => n.routerLoginHtmlError, 'text[]'],
      [(n) => n.supportsIpv6, 'boolean[]'],
      [(n) => n.supportsIpv6Error, 'text[]'],
    ])}`
}

function natBehaviours(fresh: readonly StoredReport[], createdAt: Timestamp, p: Params): string | undefined {
  const rows = fresh.flatMap((s) =>
    (s.report.natBehaviours ?? []).map((b) => ({ resultId: s.resultId, ...b })),
  )
  if (rows.length === 0) return undefined
  return `INSERT INTO client_nat_behaviours (hole_punch_result_id, transport, ip_version, mapping, port_preserved,
      observations, observer_ips, result_created_at)
    SELECT *, ${p.add(createdAt, 'timestamptz')} FROM ${p.unnest(rows, [
      [(b) => b.resultId, 'bigint[]'],
      [(b) => b.transport, 'text[]'],
      [(b) => b.ipVersion, 'smallint[]'],
      [(b) => b.mapping, 'text[]'],
      [(b) => b.portPreserved, 'boolean[]'],
      [(b) => b.observations, 'smallint[]'],
      [(b) => b.observerIps, 'smallint[]'],
    ])}`
}

/**
 * What IP version filters a host can run from now on (src/server/client-capabilities.ts): the
 * versions of its newest report in the batch that lists its listen addresses.
 */
function clientListenIpVersions(fresh: readonly StoredReport[], p: Params): string | undefined {
  const newest = new Map<number, readonly number[]>()
  for (const { report } of fresh) {
    if (report.clientListenIpVersions !== undefined)
      newest.set(report.clientId, report.clientListenIpVersions)
  }
  if (newest.size === 0) return undefined
  const rows = [...newest].sort(([a], [b]) => a - b).map(([id, versions]) => ({ id, versions }))
  return `UPDATE clients c SET listen_ip_versions = n.versions
    FROM (SELECT r.id, ${jsonbArray('r.versions', 'smallint')} AS versions
          FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), 'jsonb')}) AS r(id bigint, versions jsonb)) n
    WHERE c.id = n.id AND c.listen_ip_versions IS DISTINCT FROM n.versions`
}

/** The host's and the remote's last result time, taken in key order. */
function lastResults(fresh: readonly StoredReport[], createdAt: Timestamp, p: Params): string {
  const last = distinctRows(
    fresh.flatMap((s) => [['client', s.report.clientId] as const, ['remote', s.remoteId] as const]),
  ).sort(([ra, a], [rb, b]) => (ra === rb ? a - b : ra < rb ? -1 : 1))
  return `INSERT INTO last_results (role, id, created_at)
    SELECT role, id, ${p.add(createdAt, 'timestamptz')}
    FROM ${p.unnest(last, [
      [([role]) => role, 'text[]'],
      [([, id]) => id, 'bigint[]'],
    ])} AS t(role, id)
    ORDER BY 1, 2
    ON CONFLICT (role, id) DO UPDATE SET created_at = greatest(last_results.created_at, EXCLUDED.created_at)`
}

/**
 * The hourly rollups, added once per batch and key: the RTT histogram bins (of the attempt and
 * latency rows this statement writes, from their RETURNING) and the hourly counts (of the
 * result rows the statement before wrote; the port mappings, written by this one, from the
 * batch). Every batch of the hour updates the same rows, whose locks are held until commit,
 * so they are counted in the batch's last statement. The rows come in one order (tables in
 * the fixed order PostgreSQL runs the CTEs, each by primary key) in every transaction, so
 * concurrent batches wait for each other briefly but cannot deadlock on them. The other rows
 * a batch writes are its own, except peer and address rows, which honeypot batches write too
 * (taken in peer ID and address order: peers.ts, multi-addresses.ts), and the last-result,
 * remote-candidate and client rows other batches may share; a deadlock left there is retried
 * (retryConflicts in database.ts). The rows of a batch share one stored time, which the
 * result lookup names so that PostgreSQL reads only that month's partition.
 */
function rollups(
  fresh: readonly StoredReport[],
  createdAt: Timestamp,
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
  const createdAtParam = p.add(createdAt, 'timestamptz')
  const groups = resultGroups('port_mapped')
  return {
    ...(series.length === 0
      ? {}
      : {
          histograms: `INSERT INTO rtt_histograms (kind, name, hour, bin, n)
            SELECT kind, name, ${utcHour(createdAtParam)}, bin, count(*) FROM (${series.join(' UNION ALL ')}) v
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (kind, name, hour, bin) DO UPDATE SET n = rtt_histograms.n + EXCLUDED.n`,
        }),
    port_mapped: `SELECT unnest(${p.add(
      fresh.filter((s) => s.report.natMappings.length > 0).map((s) => s.resultId),
      'bigint[]',
    )}) AS hole_punch_result_id`,
    counts: `INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
      SELECT d.dimension, ${utcHour('r.created_at')}, d.key, r.outcome, count(*)
      FROM hole_punch_results r CROSS JOIN LATERAL (VALUES ${Object.entries(groups)
        .map(([dimension, key]) => `('${dimension}', ${key})`)
        .join(', ')}) AS d(dimension, key)
      WHERE r.id = ANY(${p.add(
        fresh.map((s) => s.resultId),
        'bigint[]',
      )}) AND r.created_at = ${createdAtParam} AND d.key IS NOT NULL
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT (dimension, hour, key, outcome) DO UPDATE SET results = hole_punch_result_counts.results + EXCLUDED.results`,
  }
}

/** The CTE of insertChildren's statement whose RETURNING holds each RTT series' rows. */
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
