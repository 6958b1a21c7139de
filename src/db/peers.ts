import type { Queryable } from './database.js'

export interface PeerInfo {
  /** Peer ID in its base58btc string form. */
  multiHash: string
  agentVersion?: string | null | undefined
  protocols?: readonly string[] | null | undefined
}

// What upsertPeer and upsertPeers do with a stored peer (see upsertPeer).
const ON_PEER_CONFLICT = `ON CONFLICT (multi_hash) DO UPDATE SET
       agent_version = coalesce(EXCLUDED.agent_version, peers.agent_version),
       protocols     = coalesce(EXCLUDED.protocols, peers.protocols),
       updated_at    = CASE
         WHEN (EXCLUDED.agent_version IS NOT NULL AND EXCLUDED.agent_version IS DISTINCT FROM peers.agent_version)
           OR (EXCLUDED.protocols IS NOT NULL AND EXCLUDED.protocols IS DISTINCT FROM peers.protocols)
         THEN now() ELSE peers.updated_at END
     RETURNING id, multi_hash`

/**
 * Inserts the peer or returns the existing one. Agent version and protocols are updated when
 * given and different (updated_at then moves); absent values leave the stored ones alone.
 */
export async function upsertPeer(db: Queryable, peer: PeerInfo): Promise<number> {
  const protocols = peer.protocols == null ? null : [...peer.protocols].sort()
  const rows = await db.query<{ id: string | number }>(
    `INSERT INTO peers (multi_hash, agent_version, protocols) VALUES ($1, $2, $3) ${ON_PEER_CONFLICT}`,
    [peer.multiHash, peer.agentVersion ?? null, protocols],
    { prepare: true },
  )
  return Number(rows[0]!.id)
}

/**
 * upsertPeer for many peers in one statement; returns ids in input order. A peer listed more
 * than once ends with its last agent version and protocols (list them oldest first): ON
 * CONFLICT may touch a row only once per statement, so the statement gets one row per peer.
 */
export async function upsertPeers(db: Queryable, peers: readonly PeerInfo[]): Promise<number[]> {
  if (peers.length === 0) return []
  const last = new Map(peers.map((p) => [p.multiHash, p]))
  // Rows are locked in one order (by peer ID) by every batch, so concurrent writers cannot deadlock.
  const rows = [...last.values()]
    .sort((a, b) => (a.multiHash < b.multiHash ? -1 : a.multiHash > b.multiHash ? 1 : 0))
    .map((p) => ({
      multi_hash: p.multiHash,
      agent_version: p.agentVersion ?? null,
      protocols: p.protocols == null ? null : [...p.protocols].sort(),
    }))
  // One JSON parameter carries the rows: protocol lists differ in length, which unnest() of
  // arrays cannot express.
  const stored = await db.query<{ id: string | number; multi_hash: string }>(
    `INSERT INTO peers (multi_hash, agent_version, protocols)
     SELECT r.multi_hash, r.agent_version,
       CASE WHEN jsonb_typeof(r.protocols) = 'array' THEN ${jsonbArray('r.protocols', 'text')} END
     FROM jsonb_to_recordset($1::jsonb) AS r(multi_hash text, agent_version text, protocols jsonb)
     ${ON_PEER_CONFLICT}`,
    [JSON.stringify(rows)],
  )
  const ids = new Map(stored.map((r) => [r.multi_hash, Number(r.id)]))
  return peers.map((p) => ids.get(p.multiHash)!)
}

/** SQL: the jsonb array `expr` as a `type[]`, elements in their order. */
export function jsonbArray(
  expr: string,
  type: 'text' | 'bigint' | 'smallint' | 'integer' | 'double precision',
): string {
  return `ARRAY(SELECT e.v::${type} FROM jsonb_array_elements_text(${expr}) WITH ORDINALITY AS e(v, n) ORDER BY e.n)`
}

/** Inserts every peer not stored yet (no attribute updates); returns ids in input order. */
export async function upsertPeerIds(db: Queryable, multiHashes: readonly string[]): Promise<number[]> {
  if (multiHashes.length === 0) return []
  const unique = [...new Set(multiHashes)]
  const rows = await db.query<{ id: string | number; multi_hash: string }>(
    `WITH input AS (SELECT unnest($1::text[]) AS multi_hash),
     inserted AS (
       INSERT INTO peers (multi_hash) SELECT multi_hash FROM input ORDER BY multi_hash COLLATE "C"
       ON CONFLICT (multi_hash) DO NOTHING RETURNING id, multi_hash
     )
     SELECT id, multi_hash FROM inserted
     UNION ALL
     SELECT p.id, p.multi_hash FROM peers p JOIN input i ON i.multi_hash = p.multi_hash`,
    [unique],
    { prepare: true },
  )
  const ids = new Map(rows.map((r) => [r.multi_hash, Number(r.id)]))
  // A row committed by a concurrent transaction after this statement began is neither
  // inserted nor visible to it; one more round finds it.
  if (ids.size < unique.length) {
    const missing = unique.filter((m) => !ids.has(m))
    const again = await db.query<{ id: string | number; multi_hash: string }>(
      'SELECT id, multi_hash FROM peers WHERE multi_hash = ANY($1::text[])',
      [missing],
    )
    for (const r of again) ids.set(r.multi_hash, Number(r.id))
  }
  return multiHashes.map((m) => {
    const id = ids.get(m)
    if (id === undefined) throw new Error(`peer ${m} could not be stored`)
    return id
  })
}
