import type { Queryable } from './database.js'

export interface ClientHost {
  clientId: number
  peerId: number
  multiHash: string
  authorizationId: number
  agentVersion: string | null
  /** IP versions of its latest report's usable listen addresses; null before its first report. */
  listenIpVersions: number[] | null
}

/** Thrown when a host is registered already under another API key. */
export class ClientBoundToOtherKeyError extends Error {
  override readonly name = 'ClientBoundToOtherKeyError'
}

/**
 * Binds a client host (already stored as a peer) to an authorization. Registering again with
 * the same key refreshes updated_at; with another key it fails: a host's reports must keep
 * using the key it registered with (docs/PROTOCOL.md, "API keys").
 */
export async function registerClient(
  db: Queryable,
  peerId: number,
  authorizationId: number,
): Promise<number> {
  const rows = await db.query<{ id: string | number; authorization_id: number }>(
    `INSERT INTO clients (peer_id, authorization_id) VALUES ($1, $2)
     ON CONFLICT (peer_id) DO UPDATE SET updated_at = now() WHERE clients.authorization_id = EXCLUDED.authorization_id
     RETURNING id, authorization_id`,
    [peerId, authorizationId],
    { prepare: true },
  )
  if (rows[0] === undefined)
    throw new ClientBoundToOtherKeyError('this host is registered with another API key')
  return Number(rows[0].id)
}

/** Looks up registered client hosts by peer ID string. Unknown hosts are absent from the map. */
export async function findClientHosts(
  db: Queryable,
  multiHashes: readonly string[],
): Promise<Map<string, ClientHost>> {
  if (multiHashes.length === 0) return new Map()
  const rows = await db.query<{
    id: string | number
    peer_id: string | number
    multi_hash: string
    authorization_id: number
    agent_version: string | null
    listen_ip_versions: number[] | null
  }>(
    `SELECT c.id, c.peer_id, p.multi_hash, c.authorization_id, p.agent_version, c.listen_ip_versions
     FROM peers p JOIN clients c ON c.peer_id = p.id
     WHERE p.multi_hash = ANY($1::text[])`,
    [[...new Set(multiHashes)]],
    { prepare: true },
  )
  return new Map(
    rows.map((r) => [
      r.multi_hash,
      {
        clientId: Number(r.id),
        peerId: Number(r.peer_id),
        multiHash: r.multi_hash,
        authorizationId: Number(r.authorization_id),
        agentVersion: r.agent_version,
        listenIpVersions: r.listen_ip_versions?.map(Number) ?? null,
      },
    ]),
  )
}
