import { multiaddr } from '@multiformats/multiaddr'
import type { Queryable } from '../../db/database.js'
import { classifyMultiaddr, filterIpVersion, filterTransport } from '../../lib/multiaddr.js'
import type { RoundIpVersion } from '../expectations.js'
import type { Transport } from '../nat-profiles.js'
import type { MeasuredAttempt, MeasuredRound } from './measured-round.js'

/**
 * Reads a campaign's rounds back from the server's database: what the clients reported is the
 * measurement, so the verdict is taken from the stored rows, not from what the clients print.
 * Each lab client reports with an API key issued to its host name, which names the client.
 */
export async function readStoredRounds(
  db: Queryable,
  remoteNames: ReadonlyMap<string, string>,
): Promise<MeasuredRound[]> {
  const rows = await db.query<StoredRow>(
    `SELECT r.id, a.username, cp.multi_hash AS client_peer, rp.multi_hash AS remote_peer, r.outcome::text AS outcome,
            r.error, r.protocols, r.final_transport, r.final_ip_version, r.client_implementation, r.quirks,
            r.client_nat_mapping, ni.router_login_html, ni.router_login_html_error,
            coalesce((SELECT json_agg(json_build_object('protocol', pm.protocol, 'internalPort', pm.internal_port,
                        'externalPort', pm.external_port, 'addr', pm.addr) ORDER BY pm.id)
                      FROM port_mappings pm WHERE pm.hole_punch_result_id = r.id), '[]') AS nat_mappings,
            ${micros('r.connect_started_at')} AS connect_started_us, ${micros('r.connect_ended_at')} AS connect_ended_us,
            ${micros('r.ended_at')} AS ended_us,
            coalesce((SELECT json_agg(json_build_object(
                        'number', t.attempt_number, 'outcome', t.outcome::text, 'error', t.error,
                        'openedUs', ${micros('t.opened_at')}, 'startedUs', ${micros('t.started_at')},
                        'endedUs', ${micros('t.ended_at')}, 'startRttSeconds', t.start_rtt,
                        'elapsedSeconds', t.elapsed_time) ORDER BY t.attempt_number)
                      FROM hole_punch_attempts t WHERE t.hole_punch_result_id = r.id), '[]') AS attempts,
            coalesce((SELECT array_agg(ma.maddr) FROM hole_punch_attempts t
                        JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = t.id
                        JOIN multi_addresses ma ON ma.id = x.multi_address_id
                      WHERE t.hole_punch_result_id = r.id), '{}') AS punched_addrs
     FROM hole_punch_results r
     JOIN clients c ON c.id = r.client_id
     JOIN authorizations a ON a.id = c.authorization_id
     JOIN peers cp ON cp.id = c.peer_id
     JOIN peers rp ON rp.id = r.remote_id
     LEFT JOIN network_information ni ON ni.hole_punch_result_id = r.id
     ORDER BY r.connect_started_at, r.id`,
  )
  return rows.map((row) => ({
    id: Number(row.id),
    client: row.username,
    clientPeer: row.client_peer,
    remote: remoteNames.get(row.remote_peer),
    remotePeer: row.remote_peer,
    transport: transportOf(row.protocols.map(Number), row.final_transport, row.punched_addrs),
    outcome: row.outcome,
    error: row.error,
    finalTransport: row.final_transport,
    ipVersion: ipVersionOf(row.protocols.map(Number), row.final_ip_version, row.punched_addrs),
    clientImplementation: row.client_implementation,
    quirks: row.quirks,
    clientNatMapping: row.client_nat_mapping,
    routerLoginHtml: row.router_login_html,
    routerLoginHtmlError: row.router_login_html_error,
    natMappings: typeof row.nat_mappings === 'string' ? JSON.parse(row.nat_mappings) : row.nat_mappings,
    filterIpVersion: filterIpVersion(row.protocols.map(Number)),
    filterTransport: filterTransport(row.protocols.map(Number)),
    connectStartedUs: row.connect_started_us,
    connectEndedUs: row.connect_ended_us,
    endedUs: row.ended_us,
    attempts: typeof row.attempts === 'string' ? JSON.parse(row.attempts) : row.attempts,
    punchedAddrs: row.punched_addrs,
  }))
}

interface StoredRow {
  id: string | number
  username: string
  client_peer: string
  remote_peer: string
  outcome: string
  error: string | null
  protocols: (string | number)[]
  final_transport: string | null
  final_ip_version: number | null
  client_implementation: string
  quirks: string[]
  client_nat_mapping: string | null
  router_login_html: string | null
  router_login_html_error: string | null
  nat_mappings: MeasuredRound['natMappings'] | string
  connect_started_us: number
  connect_ended_us: number
  ended_us: number
  attempts: MeasuredAttempt[] | string
  punched_addrs: string[]
}

/** Unix microseconds as a double (exact up to the year 2255). */
function micros(column: string): string {
  return `(extract(epoch FROM ${column}) * 1000000)::float8`
}

/**
 * The transport a round measured: the protocol filter the server served, else the transport
 * of the direct connection, else that of the punched addresses (QUIC when any was). A round
 * with none of them (no stream, no connection) is counted as TCP: nothing tells its transport.
 */
export function transportOf(
  protocols: readonly number[],
  finalTransport: string | null,
  punchedAddrs: readonly string[],
): Transport {
  const filtered = filterTransport(protocols)
  if (filtered !== undefined) return filtered
  if (finalTransport !== null) return finalTransport.startsWith('quic') ? 'quic' : 'tcp'
  return punchedAddrs.some((a) => a.includes('/quic')) ? 'quic' : 'tcp'
}

/**
 * The IP version a round measured: the protocol filter's, else that of the direct connection,
 * else that of the punched addresses when they share one; `any` for a round that punched both
 * (or none: no stream, no attempt) and failed.
 */
export function ipVersionOf(
  protocols: readonly number[],
  finalIpVersion: number | null,
  punchedAddrs: readonly string[],
): RoundIpVersion {
  const filtered = filterIpVersion(protocols)
  if (filtered !== undefined) return filtered
  if (finalIpVersion === 4 || finalIpVersion === 6) return finalIpVersion
  const versions = new Set(punchedAddrs.map((a) => classifyMultiaddr(multiaddr(a)).ipVersion))
  const [only] = versions
  return versions.size === 1 && only !== null && only !== undefined ? only : 'any'
}
