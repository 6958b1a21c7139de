import type { Database } from './database.js'
import type { ClassifiedMultiaddr, GeoResolver } from './multi-addresses.js'
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

/**
 * Stores a whole report in one transaction. Returns the new result id, or `undefined` when
 * the same report was stored before (a client retrying after a lost response).
 */
export async function insertHolePunchReport(
  db: Database,
  report: HolePunchReport,
  geo: GeoResolver,
): Promise<number | undefined> {
  return db.transaction(async (tx) => {
    const remoteId = await upsertPeer(tx, { multiHash: report.remoteId })
    const final = finalConnection(report)
    const inserted = await tx.query<{ id: string | number }>(
      `INSERT INTO hole_punch_results (client_id, remote_id, connect_started_at, connect_ended_at, has_direct_conns, error,
         outcome, ended_at, protocols, attempt_count, final_transport, final_ip_version, report_sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (report_sha256) DO NOTHING
       RETURNING id`,
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
      ],
    )
    if (inserted[0] === undefined) return undefined
    const resultId = Number(inserted[0].id)

    const initialIds = await upsertMultiAddresses(tx, report.remoteMultiAddresses, geo)
    const finalIds = await upsertMultiAddresses(tx, report.openMultiAddresses, geo)
    await tx.query(
      `INSERT INTO hole_punch_results_x_multi_addresses (hole_punch_result_id, multi_address_id, relationship)
       SELECT $1::bigint, id, 'INITIAL'::multi_address_relationship FROM unnest($2::bigint[]) AS id
       UNION SELECT $1::bigint, id, 'FINAL'::multi_address_relationship FROM unnest($3::bigint[]) AS id`,
      [resultId, initialIds, finalIds],
    )
    const listenIds = await upsertMultiAddresses(tx, report.listenMultiAddresses, geo)
    await tx.query(
      `INSERT INTO hole_punch_results_x_listen_multi_addresses (hole_punch_result_id, multi_address_id)
       SELECT DISTINCT $1::bigint, unnest($2::bigint[])`,
      [resultId, listenIds],
    )

    for (const [index, attempt] of report.attempts.entries()) {
      const rows = await tx.query<{ id: string | number }>(
        `INSERT INTO hole_punch_attempts (hole_punch_result_id, attempt_number, opened_at, started_at, ended_at, start_rtt,
           elapsed_time, outcome, error, direct_dial_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
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
        ],
      )
      const addrIds = await upsertMultiAddresses(tx, attempt.multiAddresses, geo)
      await tx.query(
        `INSERT INTO hole_punch_attempts_x_multi_addresses (hole_punch_attempt_id, multi_address_id)
         SELECT DISTINCT $1::bigint, unnest($2::bigint[])`,
        [Number(rows[0]!.id), addrIds],
      )
    }

    if (report.latencies.length > 0) {
      const peerIds = await upsertPeerIds(
        tx,
        report.latencies.map((l) => l.remoteId),
      )
      const addrIds = await upsertMultiAddresses(
        tx,
        report.latencies.map((l) => l.multiAddress),
        geo,
      )
      for (const [i, l] of report.latencies.entries()) {
        const agg = rttAggregates(l.rtts, l.rttErrs)
        await tx.query(
          `INSERT INTO latency_measurements (hole_punch_result_id, remote_id, multi_address_id, mtype, agent_version, protocols,
             rtts, rtt_errs, rtt_avg, rtt_min, rtt_max, rtt_std, success_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [
            resultId,
            peerIds[i],
            addrIds[i],
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
    return resultId
  })
}
