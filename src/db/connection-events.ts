import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import { eligibleCandidate } from './allocation.js'
import type { Queryable } from './database.js'
import type { GeoResolver } from './multi-addresses.js'
import { upsertMultiAddresses } from './multi-addresses.js'
import { jsonbArray, upsertPeerIds, upsertPeers } from './peers.js'

/** What a honeypot learnt about a peer on one inbound connection, after identify. */
export interface ConnectionEvent {
  /** The remote peer ID (base58btc). */
  remoteId: string
  agentVersion: string | null
  protocols: readonly string[]
  /** Addresses the peer advertised in identify. */
  listenAddrs: readonly ClassifiedMultiaddr[]
  /** The connection's remote address. */
  connectionAddr: ClassifiedMultiaddr | null
  /**
   * Recorded without listing /libp2p/dcutr, as an agent known to punch unannounced
   * (src/honeypot/qualify.ts). @default false
   */
  dcutrInferred?: boolean
  /** The honeypot's own peer ID, when known. */
  honeypotId?: string | undefined
  openedAt: Date
}

export const DCUTR_PROTOCOL = '/libp2p/dcutr'

/**
 * Stores a connection event and, when the peer qualifies (speaks DCUtR and advertises at
 * least one relay address), refreshes its row in the allocation working set.
 */
export async function recordConnectionEvent(
  db: Queryable,
  event: ConnectionEvent,
  geo: GeoResolver,
): Promise<number> {
  const [id] = await recordConnectionEvents(db, [event], geo)
  return id!
}

/**
 * recordConnectionEvent for many events in a fixed number of statements (at most nine),
 * whatever their number: the honeypot's batch writer runs it in one transaction per batch.
 * Returns the event ids in input order. List events oldest first: a peer's row in `peers`
 * ends with the agent version and protocols of its last event, while every event row keeps
 * its own (the history).
 */
export async function recordConnectionEvents(
  db: Queryable,
  events: readonly ConnectionEvent[],
  geo: GeoResolver,
): Promise<number[]> {
  if (events.length === 0) return []
  const remoteIds = await upsertPeers(
    db,
    events.map((e) => ({ multiHash: e.remoteId, agentVersion: e.agentVersion, protocols: e.protocols })),
  )
  const honeypots = [...new Set(events.flatMap((e) => (e.honeypotId === undefined ? [] : [e.honeypotId])))]
  const honeypotIds = await upsertPeerIds(db, honeypots)
  const honeypotId = new Map(honeypots.map((h, i) => [h, honeypotIds[i]!]))
  const addrs = events.flatMap((e) => [
    ...e.listenAddrs,
    ...(e.connectionAddr === null ? [] : [e.connectionAddr]),
  ])
  const addrIds = await upsertMultiAddresses(db, addrs, geo)
  const addrId = new Map(addrs.map((a, i) => [a.maddr, addrIds[i]!]))
  // Ids come from the sequence first, so that nothing depends on the order in which
  // INSERT … RETURNING would yield the rows.
  const drawn = await db.query<{ id: string | number }>(
    `SELECT nextval(pg_get_serial_sequence('connection_events', 'id')) AS id FROM generate_series(1, $1::int)`,
    [events.length],
  )
  const rows = events.map((e, i) => ({
    id: Number(drawn[i]!.id),
    remoteId: remoteIds[i]!,
    openedAt: e.openedAt,
    listenIds: [...new Set(e.listenAddrs.map((a) => addrId.get(a.maddr)!))],
    relayIds: [...new Set(e.listenAddrs.filter((a) => a.isRelay).map((a) => addrId.get(a.maddr)!))],
    supportsDcutr: e.protocols.includes(DCUTR_PROTOCOL),
    dcutrInferred: e.dcutrInferred === true,
    ipVersions: reachableIpVersions(e),
    event: e,
  }))

  await db.query(
    `INSERT INTO connection_events (id, remote_id, listens_on_relay, supports_dcutr, dcutr_inferred, multi_address_id,
       agent_version, protocols, honeypot_id, opened_at)
     SELECT r.id, r.remote_id, r.listens_on_relay, r.supports_dcutr, r.dcutr_inferred, r.multi_address_id, r.agent_version,
       ${jsonbArray('r.protocols', 'text')}, r.honeypot_id, r.opened_at
     FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, remote_id bigint, listens_on_relay boolean,
       supports_dcutr boolean, dcutr_inferred boolean, multi_address_id bigint, agent_version text, protocols jsonb,
       honeypot_id bigint, opened_at timestamptz)`,
    [
      JSON.stringify(
        rows.map((r) => ({
          id: r.id,
          remote_id: r.remoteId,
          listens_on_relay: r.relayIds.length > 0,
          supports_dcutr: r.supportsDcutr,
          dcutr_inferred: r.dcutrInferred,
          multi_address_id: r.event.connectionAddr === null ? null : addrId.get(r.event.connectionAddr.maddr),
          agent_version: r.event.agentVersion,
          protocols: [...r.event.protocols].sort(),
          honeypot_id: r.event.honeypotId === undefined ? null : honeypotId.get(r.event.honeypotId),
          opened_at: r.openedAt.toISOString(),
        })),
      ),
    ],
  )
  const links = rows.flatMap((r) => r.listenIds.map((addr) => ({ event: r.id, addr })))
  if (links.length > 0) {
    await db.query(
      `INSERT INTO connection_events_x_multi_addresses (connection_event_id, multi_address_id)
       SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`,
      [links.map((l) => l.event), links.map((l) => l.addr)],
    )
  }

  // One working-set row per qualifying remote, with the relay addrs of its latest event and
  // the IP versions of all its events, in peer order (the lock order of every writer).
  const candidates = new Map<number, { latest: (typeof rows)[number]; ipVersions: Set<number> }>()
  for (const r of rows) {
    if (!(r.supportsDcutr || r.dcutrInferred) || r.relayIds.length === 0) continue
    const known = candidates.get(r.remoteId)
    const ipVersions = new Set([...(known?.ipVersions ?? []), ...r.ipVersions])
    const latest = known === undefined || known.latest.openedAt <= r.openedAt ? r : known.latest
    candidates.set(r.remoteId, { latest, ipVersions })
  }
  if (candidates.size > 0) {
    // The versions add up over a candidate's life: a remote seen over IPv4 once and IPv6 once
    // has both.
    await db.query(
      `INSERT INTO remote_candidates (peer_id, relay_multi_address_ids, last_seen_at, ip_versions)
       SELECT c.peer_id, ${jsonbArray('c.relay_ids', 'bigint')}, c.seen_at, ${jsonbArray('c.ip_versions', 'smallint')}
       FROM jsonb_to_recordset($1::jsonb) AS c(peer_id bigint, relay_ids jsonb, seen_at timestamptz, ip_versions jsonb)
       ON CONFLICT (peer_id) DO UPDATE SET
         relay_multi_address_ids = EXCLUDED.relay_multi_address_ids,
         last_seen_at = greatest(remote_candidates.last_seen_at, EXCLUDED.last_seen_at),
         ip_versions = (SELECT array_agg(DISTINCT v ORDER BY v)
                        FROM unnest(coalesce(remote_candidates.ip_versions, '{}') || EXCLUDED.ip_versions) AS v)`,
      [
        JSON.stringify(
          [...candidates.values()]
            .sort((a, b) => a.latest.remoteId - b.latest.remoteId)
            .map(({ latest, ipVersions }) => ({
              peer_id: latest.remoteId,
              relay_ids: latest.relayIds,
              seen_at: latest.openedAt.toISOString(),
              ip_versions: [...ipVersions].sort(),
            })),
        ),
      ],
    )
  }
  return rows.map((r) => r.id)
}

/**
 * The IP versions a peer showed it can be reached on: that of the public address it connected
 * from, and those of the public addresses (not relayed) it advertised.
 */
export function reachableIpVersions(
  event: Pick<ConnectionEvent, 'listenAddrs' | 'connectionAddr'>,
): number[] {
  const addrs = [...event.listenAddrs, ...(event.connectionAddr === null ? [] : [event.connectionAddr])]
  const direct = addrs.filter((a) => !a.isRelay && a.isPublic && a.ipVersion !== null)
  return [...new Set(direct.map((a) => a.ipVersion!))].sort()
}

/** Remotes a client could be handed now: seen by a honeypot within the eligibility window. */
export async function countCandidates(db: Queryable): Promise<number> {
  const rows = await db.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM remote_candidates rc WHERE ${eligibleCandidate('rc')}`,
  )
  return Number(rows[0]!.n)
}
