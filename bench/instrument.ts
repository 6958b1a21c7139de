import type { Database, Queryable, QueryOptions } from '../src/db/database.js'

/**
 * Wraps the server's database to time every statement and transaction without touching src/:
 * statements are grouped by a normalised prefix of their SQL, transactions by the first
 * statement that names them (the allocation pick, the result insert). It also keeps the
 * allocation statement exactly as the server ran it, to EXPLAIN it later.
 */
export class Instrumented {
  readonly statements = new Map<string, number[]>()
  readonly transactions = new Map<string, number[]>()
  /** The last allocation pick statement and its parameters, as src/db/allocation.ts sent them. */
  allocationSql: { sql: string; params: readonly unknown[] } | undefined
  readonly db: Database

  constructor(inner: Database) {
    const timed = async <T>(sql: string, run: () => Promise<T>, params: readonly unknown[]): Promise<T> => {
      const t0 = performance.now()
      try {
        return await run()
      } finally {
        const label = statementLabel(sql)
        this.add(this.statements, label, performance.now() - t0)
        if (label === ALLOCATION_PICK) this.allocationSql = { sql, params }
      }
    }
    this.db = {
      kind: inner.kind,
      query: <Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) =>
        timed(sql, () => inner.query<Row>(sql, params, options), params),
      transaction: async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
        // Wall time from asking for the transaction (PGlite queue, pg pool wait included) …
        const asked = performance.now()
        let began: number | undefined
        let label: string | undefined
        try {
          return await inner.transaction((tx) => {
            began = performance.now()
            return fn({
              query: <Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) => {
                label ??= transactionLabel(sql)
                return timed(sql, () => tx.query<Row>(sql, params, options), params)
              },
            })
          })
        } finally {
          const end = performance.now()
          const name = label ?? 'other'
          this.add(this.transactions, `${name} (incl. wait)`, end - asked)
          // … and from its first statement (BEGIN … COMMIT on pg, the queue slot on PGlite).
          if (began !== undefined) this.add(this.transactions, name, end - began)
        }
      },
      exec: (sql: string) => inner.exec(sql),
      listen: (channel, onNotify, onListening) => inner.listen(channel, onNotify, onListening),
      close: () => inner.close(),
    }
  }

  reset(): void {
    this.statements.clear()
    this.transactions.clear()
  }

  private add(map: Map<string, number[]>, key: string, value: number): void {
    const list = map.get(key)
    if (list === undefined) map.set(key, [value])
    else list.push(value)
  }
}

export const ALLOCATION_PICK = 'allocation pick (WITH candidate … UPDATE remote_candidates)'
export const ALLOCATION_TX = 'allocateRemote'
export const REPORT_TX = 'insertHolePunchReports'

function transactionLabel(sql: string): string | undefined {
  // allocateRemote starts with the candidate pick; insertHolePunchReports by upserting the peers.
  if (/^\s*WITH candidate AS/i.test(sql)) return ALLOCATION_TX
  if (/^\s*WITH input AS \(SELECT unnest\(\$1::text\[\]\) AS multi_hash\)/i.test(sql)) return REPORT_TX
  return undefined
}

/** A short, stable name for a statement: its first words with literals and whitespace folded. */
export function statementLabel(sql: string): string {
  if (/WITH candidate AS/i.test(sql)) return ALLOCATION_PICK
  return sql
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\(([^()]{40,})\)/g, '(…)')
    .slice(0, 90)
}
