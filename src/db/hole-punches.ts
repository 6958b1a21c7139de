import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import type { Database, Queryable } from './database.js'
import type { GeoResolver } from './multi-addresses.js'
import { upsertMultiAddresses } from './multi-addresses.js'
import { upsertPeer, upsertPeerIds } from './peers.js'

/** Outcome names as stored (SQL enums); they mirror the proto enums without prefix. */
export type HolePunchOutcomeName =
  | 'UNKNOWN'
  | 'NO_CONNECTION'
  | 'NO_STREAM'
  | 'CONNECTION_REVERSED'
  | 'CANCELLED'
  | 'FAILED'
  | 'SUCCESS'
export type AttemptOutcomeName =
  | 'UNKNOWN'
  | 'DIRECT_DIAL'
  | 'PROTOCOL_ERROR'
  | 'CANCELLED'
  | 'TIMEOUT'
  | 'FAILED'
  | 'SUCCESS'
export type LatencyTypeName = 'TO_RELAY' | 'TO_REMOTE_THROUGH_RELAY' | 'TO_REMOTE_AFTER_HOLE_PUNCH'

/** ISO-8601 UTC timestamp with microseconds, e.g. 2026-11-25T16:00:00.123456Z. */
export type Timestamp = string

export interface AttemptRecord {
  openedAt: Timestamp
  startedAt: Timestamp | null
  endedAt: Timestamp
  startRtt: number | null
  elapsedTime: number
  outcome: AttemptOutcomeName
  error: string | null
  directDialError: string | null
  multiAddresses: ClassifiedMultiaddr[]
}

export interface LatencyRecord {
  remoteId: string
  agentVersion: string
  protocols: string[]
  multiAddress: ClassifiedMultiaddr
  rtts: number[]
  rttErrs: string[]
  mtype: LatencyTypeName
}

export interface PortMappingRecord {
  internalPort: number
  externalPort: number
  protocol: string
  addr: string
  addrNetwork: string
}

export interface NetworkInformationRecord {
  routerLoginHtml: string | null
  routerLoginHtmlError: string | null
  supportsIpv6: boolean | null
  supportsIpv6Error: string | null
}

/** A validated TrackHolePunch report, ready to store (the server maps the wire message to it). */
export interface HolePunchReport {
  clientId: number
  remoteId: string
  remoteMultiAddresses: ClassifiedMultiaddr[]
  connectStartedAt: Timestamp
  connectEndedAt: Timestamp
  attempts: AttemptRecord[]
  openMultiAddresses: ClassifiedMultiaddr[]
  hasDirectConns: boolean
  error: string | null
  outcome: HolePunchOutcomeName
  endedAt: Timestamp
  listenMultiAddresses: ClassifiedMultiaddr[]
  protocols: number[]
  latencies: LatencyRecord[]
  networkInformation: NetworkInformationRecord | null
  natMappings: PortMappingRecord[]
  /** The punchr client that reported it ('punchr-ts', 'punchr-go', 'punchr-rust', 'other'). */
  clientImplementation: string
  /** Codes of the known client quirks normalised in this report (src/server/quirks.ts). */
  quirks: string[]
  /** SHA-256 of the report's canonical bytes: a retried report is stored once. */
  reportSha256: Uint8Array
}

/** Aggregates of the successful pings only: a failed ping has no RTT (no -1 sentinels). */
export function rttAggregates(
  rtts: readonly number[],
  errs: readonly string[],
): { avg: number | null; min: number | null; max: number | null; std: number | null; count: number } {
  const ok = rtts.filter((_, i) => (errs[i] ?? '') === '')
  if (ok.length === 0) return { avg: null, min: null, max: null, std: null, count: 0 }
  const avg = ok.reduce((a, b) => a + b, 0) / ok.length
  const variance = ok.reduce((a, b) => a + (b - avg) ** 2, 0) / ok.length
  return { avg, min: Math.min(...ok), max: Math.max(...ok), std: Math.sqrt(variance), count: ok.length }
}

/** The direct (non-relay) connection at the end decides the transport a success ended on. */
function finalConnection(report: HolePunchReport): ClassifiedMultiaddr | undefined {
  return report.openMultiAddresses.find((a) => !a.isRelay)
}

/** The first attempt that succeeded: SUCCESS, or DIRECT_DIAL (our own dial of a public address). */
function successAttempt(report: HolePunchReport): number | null {
  const index = report.attempts.findIndex((a) => a.outcome === 'SUCCESS' || a.outcome === 'DIRECT_DIAL')
  return index === -1 ? null : index + 1
}

/** SQL: the start of the UTC hour of a timestamptz, the time key of the hourly tables. */
const utcHour = (column: string) => `(date_trunc('hour', ${column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`

/**
 * The groups a result is counted in (hole_punch_result_counts): per dimension, the key as
 * the dashboard shows it, in SQL over a `hole_punch_results r` row; NULL where the dimension
 * does not apply. Transport and IP version are those of the protocol filter the server
 * applied (docs/PROTOCOL.md, "Allocation"); success-attempt and final-connection count SUCCESS
 * results only; client-implementation marks results whose client quirks were normalised.
 * sql/migrations/0002 (0003 for client-implementation) backfilled the same for the results
 * stored before.
 */
export const RESULT_GROUPS = {
  outcome: `''`,
  transport: `CASE WHEN 6 = ANY(r.protocols) THEN 'tcp' WHEN r.protocols && ARRAY[460, 461] THEN 'quic' ELSE 'unfiltered' END`,
  'ip-version': `CASE WHEN 4 = ANY(r.protocols) THEN 'ip4' WHEN 41 = ANY(r.protocols) THEN 'ip6' ELSE 'unfiltered' END`,
  'client-country': `coalesce(r.client_country::text, 'unknown')`,
  'client-asn': `coalesce('AS' || r.client_asn::text, 'unknown')`,
  'remote-country': `coalesce(r.remote_country::text, 'unknown')`,
  'remote-asn': `coalesce('AS' || r.remote_asn::text, 'unknown')`,
  'success-attempt': `CASE WHEN r.outcome = 'SUCCESS' THEN coalesce(r.success_attempt::text, 'none') END`,
  'final-connection': `CASE WHEN r.outcome = 'SUCCESS' THEN coalesce(r.final_transport, 'none') || '/' || coalesce(r.final_ip_version::text, '') END`,
  'client-implementation': `r.client_implementation || CASE WHEN cardinality(r.quirks) > 0 THEN ' (normalised)' ELSE '' END`,
} as const

export type ResultGroupDimension = keyof typeof RESULT_GROUPS

/**
 * The RTT series the dashboard's histograms (rtt_histograms) count, per kind: the rows of
 * `table` (alias `a` or `l`) whose `value` meets `where`, one series per value of `group`.
 * Start RTTs of SUCCESS and FAILED attempts; latency as each measurement's mean of its
 * successful pings, per measurement type.
 */
export const RTT_SERIES = {
  'start-rtt': {
    table: 'hole_punch_attempts a',
    group: 'a.outcome',
    groupType: 'hole_punch_attempt_outcome',
    value: 'a.start_rtt',
    where: `a.start_rtt IS NOT NULL AND a.outcome IN ('SUCCESS', 'FAILED')`,
    alias: 'a',
  },
  latency: {
    table: 'latency_measurements l',
    group: 'l.mtype',
    groupType: 'latency_measurement_type',
    value: 'l.rtt_avg',
    where: 'l.rtt_avg IS NOT NULL',
    alias: 'l',
  },
} as const

export type RttKind = keyof typeof RTT_SERIES

/**
 * SQL: the first (lowest id) of the addresses `$ids` that has geo data, for one-row subqueries.
 * The client's geo comes from its listen addresses (behind a NAT the public one is the NAT's),
 * the remote's from the addresses it offered in its attempts: the INITIAL addresses of a
 * result are relay addresses, whose IP is the relay's.
 */
const firstWithGeo = (ids: string) =>
  `SELECT country, asn FROM multi_addresses WHERE id = ANY(${ids}::bigint[]) AND (country IS NOT NULL OR asn IS NOT NULL) ORDER BY id LIMIT 1`

/**
 * The IP versions of the remote's public addresses its CONNECTs offered (those the client
 * punched) join the remote's `ip_versions`, which the protocol filter is drawn among
 * (src/server/routes/get-addr-info.ts): a NATed remote reached the honeypot over one version,
 * and an unfiltered round shows the others. Written only when it adds a version.
 */
async function learnRemoteIpVersions(
  tx: Queryable,
  remoteId: number,
  report: HolePunchReport,
): Promise<void> {
  const punched = report.attempts.flatMap((a) => a.multiAddresses)
  const versions = [
    ...new Set(
      punched.flatMap((a) => (a.isPublic && !a.isRelay && a.ipVersion !== null ? [a.ipVersion] : [])),
    ),
  ]
  if (versions.length === 0) return
  await tx.query(
    `UPDATE remote_candidates SET ip_versions = (
       SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(coalesce(ip_versions, '{}') || $2::smallint[]) AS v)
     WHERE peer_id = $1 AND NOT (coalesce(ip_versions, '{}') @> $2::smallint[])`,
    [remoteId, versions],
  )
}

/**
 * Stores a whole report in one transaction, with what the dashboard reads instead of raw
 * rows: the result's facts (success attempt, client and remote geo), the copies of its time
 * on attempts and latencies, its host's and remote's last result time, and its hourly counts
 * and RTT histogram bins. Returns the new result id, or `undefined` when the same report was
 * stored before (a client retrying after a lost response). The result is dated by the
 * transaction's start unless `createdAt` says otherwise (test data sets dated in the past:
 * everything derived from the time follows it); the server leaves it out.
 */
export async function insertHolePunchReport(
  db: Database,
  report: HolePunchReport,
  geo: GeoResolver,
  options: { createdAt?: Timestamp } = {},
): Promise<number | undefined> {
  return db.transaction(async (tx) => {
    const remoteId = await upsertPeer(tx, { multiHash: report.remoteId })
    const final = finalConnection(report)
    // Every address of the report in one upsert, first, because the result's facts need the
    // stored geo data of its listen and attempt addresses. New addresses get their ids in the
    // order reported ("first address with geo" is the lowest id).
    const groups = [
      report.remoteMultiAddresses,
      report.openMultiAddresses,
      report.listenMultiAddresses,
      ...report.attempts.map((a) => a.multiAddresses),
      report.latencies.map((l) => l.multiAddress),
    ]
    const ids = splitBy(await upsertMultiAddresses(tx, groups.flat(), geo), groups)
    const [initialIds, finalIds, listenIds] = ids
    const attemptIds = ids.slice(3, -1)
    const latencyAddrIds = ids.at(-1)!
    const inserted = await tx.query<{ id: string | number; created_at: string }>(
      `WITH client AS (${firstWithGeo('$16')}), remote AS (${firstWithGeo('$17')})
       INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
         outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256, created_at,
         success_attempt, client_country, client_asn, remote_country, remote_asn, client_implementation, quirks)
       SELECT $1::bigint, $2::bigint, $3::timestamptz, $4::timestamptz, $5::boolean, $6::text, $7::hole_punch_outcome,
         $8::timestamptz, $9::integer[], $10::smallint, $11::text, $12::smallint, $13::bytea, coalesce($14::timestamptz, now()),
         $15::smallint, (SELECT country FROM client), (SELECT asn FROM client), (SELECT country FROM remote), (SELECT asn FROM remote),
         $18::text, $19::text[]
       ON CONFLICT (report_sha256) DO NOTHING
       RETURNING id, created_at::text AS created_at`,
      [
        report.clientId,
        remoteId,
        report.connectStartedAt,
        report.connectEndedAt,
        report.hasDirectConns,
        report.error,
        report.outcome,
        report.endedAt,
        report.protocols,
        report.attempts.length,
        final?.transport ?? null,
        final?.ipVersion ?? null,
        Buffer.from(report.reportSha256),
        options.createdAt ?? null,
        successAttempt(report),
        listenIds,
        attemptIds.flat(),
        report.clientImplementation,
        report.quirks,
      ],
    )
    if (inserted[0] === undefined) return undefined
    const resultId = Number(inserted[0].id)
    // The stored time as text round-trips with its microseconds (a JS Date would drop them).
    const createdAt = inserted[0].created_at

    await tx.query(
      `INSERT INTO hole_punch_results_x_multi_addresses (hole_punch_result_id, multi_address_id, relationship)
       SELECT $1::bigint, id, 'INITIAL'::multi_address_relationship FROM unnest($2::bigint[]) AS id
       UNION SELECT $1::bigint, id, 'FINAL'::multi_address_relationship FROM unnest($3::bigint[]) AS id`,
      [resultId, initialIds, finalIds],
    )
    await tx.query(
      `INSERT INTO hole_punch_results_x_listen_multi_addresses (hole_punch_result_id, multi_address_id)
       SELECT DISTINCT $1::bigint, unnest($2::bigint[])`,
      [resultId, listenIds],
    )

    for (const [index, attempt] of report.attempts.entries()) {
      const rows = await tx.query<{ id: string | number }>(
        `INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, started_at, ended_at, start_rtt,
           elapsed_time, outcome, error, direct_dial_error, result_created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
        [
          resultId,
          index + 1,
          attempt.openedAt,
          attempt.startedAt,
          attempt.endedAt,
          attempt.startRtt,
          attempt.elapsedTime,
          attempt.outcome,
          attempt.error,
          attempt.directDialError,
          createdAt,
        ],
      )
      await tx.query(
        `INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, multi_address_id)
         SELECT DISTINCT $1::bigint, unnest($2::bigint[])`,
        [Number(rows[0]!.id), attemptIds[index]],
      )
    }

    await learnRemoteIpVersions(tx, remoteId, report)

    if (report.latencies.length > 0) {
      const peerIds = await upsertPeerIds(
        tx,
        report.latencies.map((l) => l.remoteId),
      )
      for (const [i, l] of report.latencies.entries()) {
        const agg = rttAggregates(l.rtts, l.rttErrs)
        await tx.query(
          `INSERT INTO latency_measurements (hole_punch_result_id, remote_id, multi_address_id, mtype, agent_version, protocols,
             rtts, rtt_errs, rtt_avg, rtt_min, rtt_max, rtt_std, success_count, result_created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
          [
            resultId,
            peerIds[i],
            latencyAddrIds[i],
            l.mtype,
            l.agentVersion,
            l.protocols,
            l.rtts,
            l.rttErrs,
            agg.avg,
            agg.min,
            agg.max,
            agg.std,
            agg.count,
            createdAt,
          ],
        )
      }
    }

    if (report.natMappings.length > 0) {
      await tx.query(
        `INSERT INTO port_mappings (hole_punch_result_id, internal_port, external_port, protocol, addr, addr_network)
         SELECT $1, * FROM unnest($2::integer[], $3::integer[], $4::text[], $5::text[], $6::text[])`,
        [
          resultId,
          report.natMappings.map((m) => m.internalPort),
          report.natMappings.map((m) => m.externalPort),
          report.natMappings.map((m) => m.protocol),
          report.natMappings.map((m) => m.addr),
          report.natMappings.map((m) => m.addrNetwork),
        ],
      )
    }

    const ni = report.networkInformation
    if (ni !== null) {
      await tx.query(
        `INSERT INTO network_information (hole_punch_result_id, router_login_html, router_login_html_error, supports_ipv6, supports_ipv6_error)
         VALUES ($1, $2, $3, $4, $5)`,
        [resultId, ni.routerLoginHtml, ni.routerLoginHtmlError, ni.supportsIpv6, ni.supportsIpv6Error],
      )
    }
    // Counted last, hottest rows last: every report of the hour updates the same count rows,
    // whose locks are held until commit. The rows come in one order (table, then primary key)
    // in every transaction, so concurrent reports wait for each other briefly but cannot
    // deadlock on them. The other rows a report writes are its own, except its remote's peer
    // row and its addresses, which honeypot batches write too; those are taken peer first,
    // addresses in address order (multi-addresses.ts), and a deadlock left anyway is retried
    // (retryConflicts in database.ts).
    await tx.query(
      `INSERT INTO last_results (role, id, created_at) VALUES ('client', $1, $3::timestamptz), ('remote', $2, $3::timestamptz)
       ON CONFLICT (role, id) DO UPDATE SET created_at = greatest(last_results.created_at, EXCLUDED.created_at)`,
      [report.clientId, remoteId, createdAt],
    )
    await tx.query(
      `INSERT INTO rtt_histograms (kind, name, hour, bin, n)
       SELECT kind, name, ${utcHour('$2::timestamptz')}, bin, count(*) FROM (${Object.entries(RTT_SERIES)
         .map(
           ([kind, s]) =>
             `SELECT '${kind}' AS kind, ${s.group}::text AS name, rtt_bin(${s.value}) AS bin FROM ${s.table}
              WHERE ${s.alias}.hole_punch_result_id = $1 AND ${s.where}`,
         )
         .join(' UNION ALL ')}) v
       GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
       ON CONFLICT (kind, name, hour, bin) DO UPDATE SET n = rtt_histograms.n + EXCLUDED.n`,
      [resultId, createdAt],
    )
    await tx.query(
      `INSERT INTO hole_punch_result_counts (dimension, hour, key, outcome, results)
       SELECT d.dimension, ${utcHour('r.created_at')}, d.key, r.outcome, 1
       FROM hole_punch_results r CROSS JOIN LATERAL (VALUES ${Object.entries(RESULT_GROUPS)
         .map(([dimension, key]) => `('${dimension}', ${key})`)
         .join(', ')}) AS d(dimension, key)
       WHERE r.id = $1 AND d.key IS NOT NULL
       ORDER BY 1, 2, 3, 4
       ON CONFLICT (dimension, hour, key, outcome) DO UPDATE SET results = hole_punch_result_counts.results + 1`,
      [resultId],
    )
    return resultId
  })
}

/** Cuts `flat` into consecutive pieces as long as each of `groups`. */
function splitBy<T>(flat: readonly T[], groups: readonly (readonly unknown[])[]): T[][] {
  let at = 0
  return groups.map((g) => {
    at += g.length
    return flat.slice(at - g.length, at)
  })
}
