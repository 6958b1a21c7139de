import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'

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

/** One path's NAT mapping behaviour, as our client classified it (src/client/nat-behaviour.ts). */
export interface NatBehaviourRecord {
  transport: string
  ipVersion: number
  /** 'endpoint-independent', 'address-dependent', 'address-and-port-dependent', 'endpoint-dependent', 'unknown'. */
  mapping: string
  portPreserved: boolean | null
  observations: number
  observerIps: number
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
  /** Our client's extension (field 100); absent or empty for other clients. */
  natBehaviours?: readonly NatBehaviourRecord[]
  /** The mapping behaviour on the round's path (src/server/nat-behaviours.ts); null = not reported. */
  clientNatMapping?: string | null
  /** The punchr client that reported it ('punchr-ts', 'punchr-go', 'punchr-rust', 'other'). */
  clientImplementation: string
  /** Codes of the known client quirks normalised in this report (src/server/quirks.ts). */
  quirks: string[]
  /** SHA-256 of the report's canonical bytes: a retried report is stored once. */
  reportSha256: Uint8Array
  /**
   * The IP versions the client host can punch from, learnt from this report's listen
   * addresses (src/server/client-capabilities.ts) and recorded on the host; absent when the
   * report lists none.
   */
  clientListenIpVersions?: readonly number[]
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

/**
 * The groups a result is counted in (hole_punch_result_counts): per dimension, the key as
 * the dashboard shows it, in SQL over a `hole_punch_results r` row (in the table, or as a
 * batch's statement inserts it, src/db/report-batch.ts); NULL where the dimension
 * does not apply. Transport and IP version are those of the protocol filter the server
 * applied (docs/PROTOCOL.md, "Allocation"); success-attempt and final-connection count SUCCESS
 * results only; client-implementation marks results whose client quirks were normalised.
 * sql/migrations/0002 (0003 for client-implementation) backfilled the same for the results
 * stored before. `portMappings` is where client-port-mapping looks for the result's port
 * mappings: the table, or (while a batch writes them, src/db/report-batch.ts) a relation of
 * the ids of the batch's results that have one.
 */
export function resultGroups(portMappings: string) {
  return {
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
    'client-nat-mapping': `coalesce(r.client_nat_mapping, 'not reported')`,
    'client-port-mapping': `CASE WHEN EXISTS (SELECT 1 FROM ${portMappings} pm WHERE pm.hole_punch_result_id = r.id) THEN 'mapped' ELSE 'none' END`,
  } as const
}

export const RESULT_GROUPS = resultGroups('port_mappings')

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
