import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import type { Queryable } from './database.js'

/** Country and ASN of an IP address (offline MMDB); nulls when unknown. */
export type GeoResolver = (ip: string) => { country: string | null; asn: number | null }

/**
 * Stores the addresses not stored yet and returns the id of every input address, in input
 * order. Geo data is looked up only for addresses that are new: each address is resolved
 * once in its lifetime (docs/PROTOCOL.md, "Storage").
 */
export async function upsertMultiAddresses(
  db: Queryable,
  addrs: readonly ClassifiedMultiaddr[],
  geo: GeoResolver,
): Promise<number[]> {
  if (addrs.length === 0) return []
  const unique = new Map(addrs.map((a) => [a.maddr, a]))
  const ids = new Map<string, number>()
  const existing = await db.query<{ id: string | number; maddr: string }>(
    'SELECT id, maddr FROM multi_addresses WHERE maddr = ANY($1::text[])',
    [[...unique.keys()]],
    { prepare: true },
  )
  for (const r of existing) ids.set(r.maddr, Number(r.id))
  const fresh = [...unique.values()].filter((a) => !ids.has(a.maddr))
  if (fresh.length > 0) {
    const located = fresh.map((a) => (a.ip !== null && a.isPublic ? geo(a.ip) : { country: null, asn: null }))
    // ON CONFLICT … DO UPDATE (a no-op write) makes RETURNING yield the id even when a
    // concurrent transaction inserted the same address first. That write locks the row, so
    // rows are taken in one order (by address text) in every transaction: report transactions
    // and honeypot batches sharing addresses wait for each other instead of deadlocking.
    const rows = await db.query<{ id: string | number; maddr: string }>(
      `INSERT INTO multi_addresses (maddr, is_relay, is_public, addr, ip_version, transport, country, asn)
       SELECT * FROM unnest($1::text[], $2::boolean[], $3::boolean[], $4::inet[], $5::smallint[], $6::text[], $7::char(2)[], $8::bigint[])
       ORDER BY 1
       ON CONFLICT (maddr) DO UPDATE SET maddr = EXCLUDED.maddr
       RETURNING id, maddr`,
      [
        fresh.map((a) => a.maddr),
        fresh.map((a) => a.isRelay),
        fresh.map((a) => a.isPublic),
        fresh.map((a) => a.ip),
        fresh.map((a) => a.ipVersion),
        fresh.map((a) => a.transport),
        located.map((g) => g.country),
        located.map((g) => g.asn),
      ],
      { prepare: true },
    )
    for (const r of rows) ids.set(r.maddr, Number(r.id))
  }
  return addrs.map((a) => ids.get(a.maddr)!)
}
