import type { Database, Queryable } from './database.js'
import {
  capRelayAddrs,
  HOP_BUDGET_BUCKET_SECONDS,
  MAX_PICKS_PER_ALLOCATION,
  MAX_RELAY_ADDRS_PER_HOP_PER_MINUTE,
} from './relay-hops.js'

/** The allocation's windows (docs/PROTOCOL.md, "Allocation"). */
/** A remote is handed out when a honeypot saw it within this many seconds. */
export const ELIGIBLE_WINDOW_SECONDS = 600
export const ELIGIBLE_WINDOW = `${ELIGIBLE_WINDOW_SECONDS} seconds` // as a PostgreSQL interval
export const RATE_WINDOW = '1 minute' // results per remote counted over this window…

/**
 * The two exclusions of docs/PROTOCOL.md, "Allocation", that an operator may loosen: a campaign
 * with a handful of remotes (the NAT lab, a private testbed) would otherwise run dry after one
 * round per remote.
 */
export interface AllocationPolicy {
  /** A remote with this many results in the last minute (by anyone) is skipped. */
  maxResultsPerRemotePerMinute: number
  /** A (remote, relay addr) pair a client tried is not handed to it again for this long. */
  retryPairAfterSeconds: number
  /**
   * Relay addresses at one hop IP handed out per minute by all server processes on the
   * database together (relay-hops.ts). @default MAX_RELAY_ADDRS_PER_HOP_PER_MINUTE
   */
  maxRelayAddrsPerHopPerMinute?: number
}

export const DEFAULT_ALLOCATION_POLICY: AllocationPolicy = {
  maxResultsPerRemotePerMinute: 10,
  retryPairAfterSeconds: 600,
}

export interface AllocationRequest {
  /** clients.id of the host that will dial. */
  clientId: number
  /** clients.id of every host of the asking client (the dialling host included). */
  hostClientIds: readonly number[]
  /**
   * The protocol filter served with this allocation (multicodec codes; empty = none), or how
   * to draw it once the remote is picked, from the IP versions the remote can be punched on
   * (`remote_candidates.ip_versions`: empty when none is known).
   */
  protocols: readonly number[] | ((remoteIpVersions: ReadonlySet<number>) => number[])
  /**
   * Also hand out relay addresses whose hop is not a public IP address (private, loopback,
   * link-local, a DNS name). Only for a client on the server's own machine (the server
   * decides, see get-addr-info.ts): for anyone else such a hop points into their own network.
   * @default false
   */
  privateRelayHops?: boolean
  /**
   * Multiaddr protocol names (as stored addresses spell them) the client cannot decode: relay
   * addresses with any of them are not handed out, and a remote left without one is not picked
   * (an old Go client drops a whole answer with one such address). Empty or absent: no limit.
   */
  undecodableProtocols?: readonly string[]
}

export interface Allocation {
  remoteMultiHash: string
  /** The protocol filter served (and recorded with the hand-out). */
  protocols: number[]
  /**
   * The remote's relay addrs this client has not tried recently (`retryPairAfterSeconds`),
   * in the remote's order, without those that may not be handed out (relay-hops.ts): hop not a
   * public IP, hop budget spent, a second address at the same hop endpoint, beyond
   * MAX_RELAY_ADDRS_PER_RESPONSE.
   */
  relayAddrs: string[]
}

/**
 * The condition under which GetAddrInfo may pick the remote_candidates row `rc` at all: a
 * honeypot saw the remote within ELIGIBLE_WINDOW. The pick adds exclusions of its own per
 * client and moment (its rate, the pairs this client tried); countCandidates and
 * countReadyRemotes count with this same fragment, so their numbers cannot drift from it.
 */
export function eligibleCandidate(rc: string): string {
  return `${rc}.last_seen_at >= now() - interval '${ELIGIBLE_WINDOW}'`
}

/**
 * A relay address may be handed out when its hop (its first component: /ip4 or /ip6, the only
 * way an address starts with an IP) is a public IP — `is_public` judges that first IP — or
 * when the request allows private hops ($1).
 */
const HANDABLE_HOP = `($1::boolean OR (ma.is_public AND left(ma.maddr, 5) IN ('/ip4/', '/ip6/')))`
/** The hop budget's key: the IPv4 address, or the IPv6 /64 (one host or LAN picks freely within it). */
const HOP_KEY = `CASE family(ma.addr) WHEN 4 THEN host(ma.addr) ELSE host(network(set_masklen(ma.addr, 64))) || '/64' END`

/**
 * A POSIX regular expression matching a stored address that contains one of the protocols
 * `names` as a component (`/quic-v1/…` or a trailing `/quic-v1`, not `/quic/…`); undefined
 * when there is none to exclude.
 */
export function undecodablePattern(names: readonly string[] | undefined): string | undefined {
  if (names === undefined || names.length === 0) return undefined
  for (const name of names)
    if (!/^[a-z0-9-]+$/.test(name))
      throw new Error(`unexpected multiaddr protocol name ${JSON.stringify(name)}`)
  return `/(${names.join('|')})(/|$)`
}

/**
 * Counts relay addresses handed out at their hops in the current bucket (relay_hop_handouts,
 * migration 0007), in the allocation's transaction: a rolled-back hand-out reached nobody and
 * counts for nothing, and every server process on the database reads the same counts. Rows
 * are taken in key order, so concurrent allocations at the same hops wait instead of
 * deadlocking.
 */
async function countHopHandouts(tx: Queryable, hopKeys: readonly string[]): Promise<void> {
  if (hopKeys.length === 0) return
  await tx.query(
    `INSERT INTO relay_hop_handouts (hop_key, bucket, handed_out)
     SELECT k, to_timestamp(floor(extract(epoch FROM now()) / ${HOP_BUDGET_BUCKET_SECONDS}) * ${HOP_BUDGET_BUCKET_SECONDS}), count(*)
     FROM unnest($1::text[]) AS k GROUP BY k ORDER BY k
     ON CONFLICT (hop_key, bucket) DO UPDATE SET handed_out = relay_hop_handouts.handed_out + EXCLUDED.handed_out`,
    [hopKeys],
  )
}

/**
 * Remotes GetAddrInfo could hand a new client now: eligible candidates (eligibleCandidate) with
 * at least one relay address whose hop may be handed out (HANDABLE_HOP, under the server's
 * --private-relay-hops). What a particular client gets is fewer: the pick also skips remotes
 * busy in the last minute, pairs it tried, hops whose budget is spent.
 */
export async function countReadyRemotes(db: Queryable, privateRelayHops: boolean): Promise<number> {
  const rows = await db.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM remote_candidates rc
     WHERE ${eligibleCandidate('rc')}
       AND EXISTS (SELECT 1 FROM unnest(rc.relay_multi_address_ids) AS relay(id)
                   JOIN multi_addresses ma ON ma.id = relay.id
                   WHERE ${HANDABLE_HOP})`,
    [privateRelayHops],
  )
  return Number(rows[0]!.n)
}

/**
 * Deletes the candidates no honeypot has seen within ELIGIBLE_WINDOW; returns how many. The
 * pick skips them anyway: this keeps the working set small. The server runs it on a timer,
 * not in every allocation, so replicas on one database do not all delete on every call (a
 * prune running in two replicas at once is harmless: the second finds nothing left).
 */
export async function pruneStaleCandidates(db: Database): Promise<number> {
  const rows = await db.query<{ n: string | number }>(
    `WITH gone AS (DELETE FROM remote_candidates WHERE last_seen_at < now() - interval '${ELIGIBLE_WINDOW}' RETURNING 1),
     -- Hop budget buckets past the budget's minute count for nothing any more.
     spent AS (DELETE FROM relay_hop_handouts WHERE bucket < now() - interval '2 minutes')
     SELECT count(*) AS n FROM gone`,
  )
  return Number(rows[0]!.n)
}

/**
 * Vacuums and analyses the allocation working set. Every hand-out rewrites a
 * remote_candidates row; PGlite runs no autovacuum, so dead rows would pile up in front of
 * the allocation index scan. The server calls this every few minutes on both databases.
 */
export async function maintainAllocationTables(db: Database): Promise<void> {
  await db.exec('VACUUM (ANALYZE) remote_candidates')
}

/**
 * Picks one remote for a client (docs/PROTOCOL.md, "Allocation") and records the hand-out, in one
 * transaction.
 *
 * Fairness: candidates are served in order of `last_allocated_at` (never-served first), and
 * serving one moves it to the back, so every eligible remote gets its turn before any gets a
 * second one. Concurrent callers on PostgreSQL skip each other's locked rows.
 *
 * Speed: `remote_candidates` holds hardly more than the current candidates (the server prunes
 * stale rows every half minute, pruneStaleCandidates), so the walk over
 * remote_candidates_allocation_idx stops at the first row that passes the exclusions, each
 * checked through an index:
 *
 *   Update on remote_candidates rc
 *     -> Nested Loop
 *       -> Subquery Scan on candidate
 *         -> Limit
 *           -> LockRows
 *             -> Index Scan using remote_candidates_allocation_idx on remote_candidates
 *                  Filter: last_seen_at >= … AND (SubPlan 1) < 10 AND (SubPlan 3)
 *                  SubPlan 1 -> Index Only Scan using hole_punch_results_remote_created_idx
 *                  SubPlan 3 -> Index Scan using allocations_remote_time_idx
 *       -> Index Scan using remote_candidates_pkey on remote_candidates rc
 *
 * (EXPLAIN on PostgreSQL 15 with 100 k candidates and 1 M results; docs/benchmarks.md has
 * the timings.)
 *
 * Address poisoning (docs/SECURITY.md): only relay addresses whose hop is a public IP are
 * handed out (unless `privateRelayHops`), none at a hop IP whose budget for the last minute is
 * spent (counted across server processes in relay_hop_handouts),
 * one per hop endpoint and at most MAX_RELAY_ADDRS_PER_RESPONSE (relay-hops.ts). A picked
 * remote left with no address is passed over (it moves to the back all the same) and the next
 * is picked, at most MAX_PICKS_PER_ALLOCATION times.
 *
 * Old clients (`undecodableProtocols`): the pick itself skips a remote without a relay address
 * the client can decode, so it is neither handed out nor moved back for the clients that could
 * use it, and the answer carries only addresses the client decodes. The skipped candidates
 * cost the walk a row each, only for such clients.
 */
export async function allocateRemote(
  db: Database,
  request: AllocationRequest,
  policy: AllocationPolicy = DEFAULT_ALLOCATION_POLICY,
): Promise<Allocation | undefined> {
  const hopBudget = policy.maxRelayAddrsPerHopPerMinute ?? MAX_RELAY_ADDRS_PER_HOP_PER_MINUTE
  const undecodable = undecodablePattern(request.undecodableProtocols)
  const handed = await db.transaction(async (tx) => {
    for (let pick = 0; pick < MAX_PICKS_PER_ALLOCATION; pick++) {
      const picked = await tx.query<{
        peer_id: string | number
        relay_multi_address_ids: (string | number)[]
        ip_versions: (string | number)[] | null
      }>(
        `WITH candidate AS (
           SELECT rc.peer_id
           FROM remote_candidates rc
           WHERE ${eligibleCandidate('rc')}
             -- Under READ COMMITTED a row another call just handed out is re-checked against
             -- this WHERE only (not the ORDER BY) once its lock is released: the sub-select
             -- still reads this statement's snapshot, so it differs from the updated row and
             -- the remote is skipped instead of being handed out twice.
             AND rc.last_allocated_at IS NOT DISTINCT FROM (
                    SELECT s.last_allocated_at FROM remote_candidates s WHERE s.peer_id = rc.peer_id)
             AND (SELECT count(*) FROM (
                    SELECT 1 FROM hole_punch_results r
                    -- The row comparison can only be answered by the (remote_id, created_at)
                    -- index; with stale statistics the planner otherwise walked the created_at
                    -- index and filtered every recent result (200 ms instead of 0.6 ms). The
                    -- plain condition on created_at is there for the monthly partitions: it
                    -- leaves only the current month's to look in (the row comparison prunes none).
                    WHERE r.remote_id = rc.peer_id
                      AND (r.remote_id, r.created_at) > (rc.peer_id, now() - interval '${RATE_WINDOW}')
                      AND r.created_at > now() - interval '${RATE_WINDOW}'
                    LIMIT $2) recent) < $2
             AND EXISTS (
                    SELECT 1 FROM unnest(rc.relay_multi_address_ids) AS relay(id)
                    ${undecodable === undefined ? '' : 'JOIN multi_addresses dm ON dm.id = relay.id AND dm.maddr !~ $4'}
                    WHERE NOT EXISTS (
                      SELECT 1 FROM allocations a
                      WHERE a.remote_id = rc.peer_id AND a.multi_address_id = relay.id
                        AND a.client_id = ANY($1::bigint[])
                        AND a.allocated_at > now() - make_interval(secs => $3)))
           ORDER BY rc.last_allocated_at NULLS FIRST, rc.peer_id
           LIMIT 1
           FOR UPDATE SKIP LOCKED
         )
         UPDATE remote_candidates rc SET last_allocated_at = clock_timestamp()
         FROM candidate WHERE rc.peer_id = candidate.peer_id
         RETURNING rc.peer_id, rc.relay_multi_address_ids, rc.ip_versions`,
        [
          request.hostClientIds,
          policy.maxResultsPerRemotePerMinute,
          policy.retryPairAfterSeconds,
          ...(undecodable === undefined ? [] : [undecodable]),
        ],
      )
      const row = picked[0]
      if (row === undefined) return undefined
      // The hop rules are applied to the picked remote rather than in the pick above: a
      // remote that fails them still moves to the back of the rotation (it was just
      // updated), so poisoned remotes cannot pile up in front of the index walk.
      const remoteId = Number(row.peer_id)
      const eligible = await tx.query<{ id: string | number; maddr: string; hop_key: string | null }>(
        `SELECT ma.id, ma.maddr, ${HOP_KEY} AS hop_key
         FROM unnest($3::bigint[]) WITH ORDINALITY AS relay(id, position)
         JOIN multi_addresses ma ON ma.id = relay.id
         WHERE ${HANDABLE_HOP}
           AND (ma.addr IS NULL OR (
             SELECT coalesce(sum(h.handed_out), 0) FROM relay_hop_handouts h
             WHERE h.hop_key = ${HOP_KEY} AND h.bucket > now() - interval '1 minute') < $6)
           AND ($7::text IS NULL OR ma.maddr !~ $7)
           AND NOT EXISTS (
             SELECT 1 FROM allocations a
             WHERE a.remote_id = $2 AND a.multi_address_id = relay.id
               AND a.client_id = ANY($4::bigint[])
               AND a.allocated_at > now() - make_interval(secs => $5))
         ORDER BY relay.position`,
        [
          request.privateRelayHops ?? false,
          remoteId,
          row.relay_multi_address_ids,
          request.hostClientIds,
          policy.retryPairAfterSeconds,
          hopBudget,
          undecodable ?? null,
        ],
      )
      const addrs = capRelayAddrs(eligible)
      if (addrs.length === 0) continue
      const protocols =
        typeof request.protocols === 'function'
          ? request.protocols(new Set((row.ip_versions ?? []).map(Number)))
          : [...request.protocols]
      await tx.query(
        `INSERT INTO allocations (client_id, remote_id, multi_address_id, protocols)
         SELECT $1, $2, unnest($3::bigint[]), $4`,
        [request.clientId, remoteId, addrs.map((a) => a.id), protocols],
      )
      await countHopHandouts(
        tx,
        addrs.flatMap((a) => (a.hop_key === null ? [] : [a.hop_key])),
      )
      const peer = await tx.query<{ multi_hash: string }>('SELECT multi_hash FROM peers WHERE id = $1', [
        remoteId,
      ])
      return { remoteMultiHash: peer[0]!.multi_hash, addrs, protocols }
    }
    return undefined
  })
  if (handed === undefined) return undefined
  return {
    remoteMultiHash: handed.remoteMultiHash,
    relayAddrs: handed.addrs.map((a) => a.maddr),
    protocols: handed.protocols,
  }
}
