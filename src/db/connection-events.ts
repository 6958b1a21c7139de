import type { Queryable } from './database.js'
import type { ClassifiedMultiaddr, GeoResolver } from './multi-addresses.js'
import { upsertMultiAddresses } from './multi-addresses.js'
import { upsertPeer } from './peers.js'

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
  const remoteId = await upsertPeer(db, {
    multiHash: event.remoteId,
    agentVersion: event.agentVersion,
    protocols: event.protocols,
  })
  const honeypotId =
    event.honeypotId === undefined ? null : await upsertPeer(db, { multiHash: event.honeypotId })
  const listenIds = await upsertMultiAddresses(db, event.listenAddrs, geo)
  const [connectionAddrId] =
    event.connectionAddr === null ? [null] : await upsertMultiAddresses(db, [event.connectionAddr], geo)
  const relayIds = listenIds.filter((_, i) => event.listenAddrs[i]!.isRelay)
  const supportsDcutr = event.protocols.includes(DCUTR_PROTOCOL)
  const rows = await db.query<{ id: string | number }>(
    `INSERT INTO connection_events (remote_id, listens_on_relay, supports_dcutr, multi_address_id, agent_version, protocols, honeypot_id, opened_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [
      remoteId,
      relayIds.length > 0,
      supportsDcutr,
      connectionAddrId ?? null,
      event.agentVersion,
      [...event.protocols].sort(),
      honeypotId,
      event.openedAt,
    ],
  )
  const eventId = Number(rows[0]!.id)
  if (listenIds.length > 0) {
    await db.query(
      `INSERT INTO connection_events_x_multi_addresses (connection_event_id, multi_address_id)
       SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`,
      [eventId, [...new Set(listenIds)]],
    )
  }
  if (supportsDcutr && relayIds.length > 0) {
    await db.query(
      `INSERT INTO remote_candidates (peer_id, relay_multi_address_ids, last_seen_at) VALUES ($1, $2, $3)
       ON CONFLICT (peer_id) DO UPDATE SET
         relay_multi_address_ids = EXCLUDED.relay_multi_address_ids,
         last_seen_at = greatest(remote_candidates.last_seen_at, EXCLUDED.last_seen_at)`,
      [remoteId, [...new Set(relayIds)], event.openedAt],
    )
  }
  return eventId
}
