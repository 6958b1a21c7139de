// The tables of `punchr export`: flat columns a researcher loads in pandas or DuckDB, read in
// id order in batches (keyset pagination: each batch starts after the last id of the one
// before, through the primary key), so that memory stays flat whatever the table size.
import type { Queryable } from '../db/database.js'
import { LIVE_RESULT_TABLES, type ResultTableNames } from '../db/partitions.js'
import { nsToIsoMicros } from '../lib/time.js'
import { REMOTE_PEER_JOIN } from './queries/joins.js'
import { type ResultScope, scoped } from './queries/scope.js'

/**
 * Column types. In SQL, int64 and timestamp columns are selected as text (an int64 id or a
 * microsecond timestamp may exceed 2^53; a JS Date would drop the microseconds); `json` is a
 * JSON array (jsonb); `string-list` a text[] (a list of strings in Parquet, the strings joined
 * by ';' in CSV: for short codes that never contain one, simpler to read than JSON).
 */
export type ColumnType =
  | 'int64'
  | 'int32'
  | 'float64'
  | 'bool'
  | 'string'
  | 'timestamp'
  | 'json'
  | 'string-list'

export interface ExportColumn {
  name: string
  type: ColumnType
  /** SQL expression producing it. */
  sql: string
  description: string
}

export interface ExportTable {
  name: 'results' | 'attempts' | 'latencies' | 'peers'
  columns: ExportColumn[]
  /** FROM and joins; the rows' id is `key`. */
  from: string
  key: string
  /** Whether the time range (of the result) applies; peers are exported whole. */
  scoped: boolean
}

/** A timestamptz as Unix microseconds, text. */
const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`

const col = (name: string, type: ColumnType, sql: string, description: string): ExportColumn => ({
  name,
  type,
  sql,
  description,
})

/**
 * The tables of the export, read from the result tables `t` names: the live ones (every month
 * in the database), or one detached month's (`punchr archive`). The rows that hang off a result
 * are joined on its stored time too, so that each result reads only its own month's partition.
 */
export function exportTables(t: ResultTableNames = LIVE_RESULT_TABLES): readonly ExportTable[] {
  return [
    {
      name: 'results',
      from: `${t.hole_punch_results} r JOIN clients c ON c.id = r.client_id JOIN peers cp ON cp.id = c.peer_id
      ${REMOTE_PEER_JOIN}`,
      key: 'r.id',
      scoped: true,
      columns: [
        col('id', 'int64', 'r.id::text', 'result id (attempts.result_id, latencies.result_id)'),
        col('created_at', 'timestamp', micros('r.created_at'), 'stored by the server'),
        col('client_host_id', 'int64', 'cp.id::text', 'peers.id of the reporting client host'),
        col(
          'client_key_id',
          'int32',
          'c.authorization_id',
          'the API key the host registered with (an id, never the key)',
        ),
        col('remote_id', 'int64', 'rp.id::text', 'peers.id of the remote'),
        col('remote_peer_id', 'string', 'rp.multi_hash', 'peer ID of the remote'),
        col(
          'remote_agent',
          'string',
          'rp.agent_version',
          'agent version of the remote as the honeypot last saw it',
        ),
        col('connect_started_at', 'timestamp', micros('r.connect_started_at'), 'relayed dial began'),
        col('connect_ended_at', 'timestamp', micros('r.connect_ended_at'), 'relayed dial ended'),
        col('ended_at', 'timestamp', micros('r.ended_at'), 'round ended'),
        col(
          'outcome',
          'string',
          'r.outcome::text',
          'SUCCESS, FAILED, NO_CONNECTION, NO_STREAM, CONNECTION_REVERSED, CANCELLED',
        ),
        col('error', 'string', 'r.error', "the round's error text as the client sent it"),
        col('has_direct_conns', 'bool', 'r.has_direct_conns', 'a direct connection was open at the end'),
        col(
          'protocol_filter',
          'json',
          'to_jsonb(r.protocols)',
          'multicodec codes the server asked to punch over ([] = any)',
        ),
        col('attempt_count', 'int32', 'r.attempt_count::int', 'DCUtR attempts'),
        col('success_attempt', 'int32', 'r.success_attempt::int', 'first attempt that succeeded'),
        col(
          'final_transport',
          'string',
          'r.final_transport',
          'transport of the direct connection at the end',
        ),
        col('final_ip_version', 'int32', 'r.final_ip_version::int', 'its IP version'),
        col(
          'client_country',
          'string',
          'r.client_country::text',
          "country of the client's first public listen address",
        ),
        col('client_asn', 'int64', 'r.client_asn::text', 'its ASN'),
        col(
          'remote_country',
          'string',
          'r.remote_country::text',
          'country of the first address the remote offered for punching',
        ),
        col('remote_asn', 'int64', 'r.remote_asn::text', 'its ASN'),
        col(
          'client_implementation',
          'string',
          'r.client_implementation',
          "the punchr client that reported it, from its host's agent version: punchr-ts (this project's), punchr-go, punchr-rust (the original Go and Rust clients), other",
        ),
        col(
          'quirks',
          'string-list',
          'r.quirks',
          'codes of known quirks of that client which the server normalised before storing the result (docs/INTEROP.md, "Known quirks"; src/server/quirks.ts); empty = stored as sent. Parquet: a list of strings; CSV: the codes joined by \';\' ("" when there are none)',
        ),
        col(
          'client_nat_mapping',
          'string',
          'r.client_nat_mapping',
          'the client host\'s NAT mapping behaviour on the round\'s path (transport and IP version of its protocol filter): endpoint-independent, address-dependent, address-and-port-dependent, endpoint-dependent (not independent; port dependence untested), unknown (too few observers, or none on that path), mixed (an open filter over paths that disagree); empty = not reported (clients other than punchr-ts) (docs/OUTCOMES.md, "Client NAT behaviour")',
        ),
        col(
          'client_nat_behaviours',
          'json',
          `(SELECT jsonb_agg(jsonb_build_object('transport', b.transport, 'ip_version', b.ip_version, 'mapping', b.mapping,
            'port_preserved', b.port_preserved, 'observations', b.observations, 'observer_ips', b.observer_ips)
            ORDER BY b.ip_version, b.transport)
          FROM ${t.client_nat_behaviours} b WHERE b.hole_punch_result_id = r.id AND b.result_created_at = r.created_at)`,
          "every path the client host classified: transport, ip_version, mapping, port_preserved (every observer saw the host's local port; null = unknown), observations (observers at distinct address and port), observer_ips; null = not reported",
        ),
        col(
          'client_port_mappings',
          'json',
          `(SELECT jsonb_agg(jsonb_build_object('protocol', m.protocol, 'internal_port', m.internal_port,
            'external_port', m.external_port, 'addr', m.addr, 'addr_network', m.addr_network) ORDER BY m.id)
          FROM ${t.port_mappings} m WHERE m.hole_punch_result_id = r.id AND m.result_created_at = r.created_at)`,
          'the port mappings (UPnP IGD / NAT-PMP) the client held on its gateway, as reported (nat_mappings); null = none',
        ),
      ],
    },
    {
      name: 'attempts',
      from: `${t.hole_punch_attempts} a JOIN ${t.hole_punch_results} r
      ON r.id = a.hole_punch_result_id AND r.created_at = a.result_created_at`,
      key: 'a.id',
      scoped: true,
      columns: [
        col('id', 'int64', 'a.id::text', 'attempt id'),
        col('result_id', 'int64', 'a.hole_punch_result_id::text', 'results.id'),
        col('attempt_number', 'int32', 'a.attempt_number::int', '1-based'),
        col('opened_at', 'timestamp', micros('a.opened_at'), 'dcutr stream opened'),
        col('started_at', 'timestamp', micros('a.started_at'), 'SYNC received: the punch began'),
        col('ended_at', 'timestamp', micros('a.ended_at'), 'attempt ended'),
        col('start_rtt', 'float64', 'a.start_rtt', 'CONNECT/SYNC RTT, seconds'),
        col(
          'elapsed_time',
          'float64',
          'a.elapsed_time',
          'seconds from started_at (opened_at when the attempt never started) to ended_at',
        ),
        col(
          'outcome',
          'string',
          'a.outcome::text',
          'SUCCESS, FAILED, TIMEOUT, PROTOCOL_ERROR, DIRECT_DIAL, CANCELLED',
        ),
        col('error', 'string', 'a.error', 'attempt error'),
        col('direct_dial_error', 'string', 'a.direct_dial_error', 'error of a direct dial'),
      ],
    },
    {
      name: 'latencies',
      from: `${t.latency_measurements} l JOIN ${t.hole_punch_results} r
      ON r.id = l.hole_punch_result_id AND r.created_at = l.result_created_at
      JOIN multi_addresses m ON m.id = l.multi_address_id`,
      key: 'l.id',
      scoped: true,
      columns: [
        col('id', 'int64', 'l.id::text', 'measurement id'),
        col('result_id', 'int64', 'l.hole_punch_result_id::text', 'results.id'),
        col('peer_id', 'int64', 'l.remote_id::text', 'peers.id of the pinged peer (relay or remote)'),
        col(
          'mtype',
          'string',
          'l.mtype::text',
          'TO_RELAY, TO_REMOTE_THROUGH_RELAY, TO_REMOTE_AFTER_HOLE_PUNCH',
        ),
        col('agent_version', 'string', 'l.agent_version', "pinged peer's agent"),
        col('transport', 'string', 'm.transport', 'transport of the pinged address'),
        col('ip_version', 'int32', 'm.ip_version::int', 'its IP version'),
        col('rtts', 'json', 'to_jsonb(l.rtts)', 'raw RTTs, seconds, as sent'),
        col('rtt_errs', 'json', 'to_jsonb(l.rtt_errs)', 'parallel to rtts; "" = ok'),
        col('rtt_avg', 'float64', 'l.rtt_avg', 'mean of the successful pings'),
        col('rtt_min', 'float64', 'l.rtt_min', 'min of the successful pings'),
        col('rtt_max', 'float64', 'l.rtt_max', 'max of the successful pings'),
        col('rtt_std', 'float64', 'l.rtt_std', 'population std dev of the successful pings'),
        col('success_count', 'int32', 'l.success_count::int', 'successful pings'),
      ],
    },
    {
      name: 'peers',
      from: 'peers p',
      key: 'p.id',
      scoped: false,
      columns: [
        col(
          'id',
          'int64',
          'p.id::text',
          'peers.id (results.remote_id, results.client_host_id, latencies.peer_id)',
        ),
        col('peer_id', 'string', 'p.multi_hash', 'peer ID'),
        col('agent_version', 'string', 'p.agent_version', 'latest agent version seen'),
        col('protocols', 'json', 'to_jsonb(p.protocols)', 'latest protocols seen'),
        col('created_at', 'timestamp', micros('p.created_at'), 'first seen'),
        col('updated_at', 'timestamp', micros('p.updated_at'), 'agent or protocols last changed'),
      ],
    },
  ]
}

/** The export of every month in the database. */
export const EXPORT_TABLES = exportTables()

export type ExportRow = Record<string, unknown>

/**
 * The rows of a table, `batchSize` at a time, converted to JS values: int64 and timestamps
 * (Unix microseconds) as bigint; the rest as both drivers return them (json as arrays).
 */
export async function* exportRows(
  db: Queryable,
  table: ExportTable,
  scope: ResultScope,
  batchSize: number,
): AsyncGenerator<ExportRow> {
  let after = '0'
  for (;;) {
    const q = scoped(scope)
    const where = table.scoped ? `${q.where} AND` : ''
    const params = table.scoped ? q.params : []
    const rows = await db.query<Record<string, unknown>>(
      `SELECT ${table.key}::text AS _key, ${table.columns.map((c) => `${c.sql} AS "${c.name}"`).join(', ')}
       FROM ${table.from} WHERE ${where} ${table.key} > $${params.length + 1}::bigint
       ORDER BY ${table.key} LIMIT $${params.length + 2}`,
      [...params, after, batchSize],
    )
    for (const row of rows) yield convert(table, row)
    if (rows.length < batchSize) return
    after = rows.at(-1)!._key as string
  }
}

function convert(table: ExportTable, row: Record<string, unknown>): ExportRow {
  const out: ExportRow = {}
  for (const c of table.columns) {
    const v = row[c.name]
    out[c.name] =
      v === null || v === undefined
        ? null
        : c.type === 'int64' || c.type === 'timestamp'
          ? BigInt(v as string)
          : v
  }
  return out
}

/** A microsecond timestamp as ISO 8601 with microseconds, e.g. 2026-11-25T16:00:00.123456Z. */
export function microsToIso(us: bigint): string {
  return nsToIsoMicros(us * 1000n)
}
