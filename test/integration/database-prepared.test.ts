// Statements of the request path asked to be prepared (src/db/database.ts, QueryOptions):
// on PostgreSQL each connection prepares one named statement per text, capped; PGlite runs
// them as any other statement.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Database, Queryable } from '../../src/db/database.js'
import { openTestDatabase } from '../support/databases.js'

/** The statements prepared on the connection `tx` runs on. */
async function preparedOn(tx: Queryable): Promise<{ name: string; statement: string }[]> {
  return tx.query<{ name: string; statement: string }>(
    'SELECT name, statement FROM pg_prepared_statements ORDER BY name',
  )
}

describe('prepared statements [postgres]', () => {
  let db: Database

  before(async () => {
    db = await openTestDatabase('postgres')
  })
  after(() => db.close())

  it('prepares a statement once per connection, under one name per text', async () => {
    await db.transaction(async (tx) => {
      for (let i = 0; i < 3; i++) {
        const rows = await tx.query<{ n: number }>('SELECT $1::int + 1 AS n', [i], { prepare: true })
        assert.equal(rows[0]!.n, i + 1)
      }
      await tx.query('SELECT $1::int * 2 AS n', [1], { prepare: true })
      await tx.query('SELECT $1::int - 3 AS n', [1])
      const prepared = await preparedOn(tx)
      assert.deepEqual(
        prepared.map((p) => p.statement).sort(),
        ['SELECT $1::int * 2 AS n', 'SELECT $1::int + 1 AS n'],
        'the unprepared statement is not kept',
      )
      assert.equal(new Set(prepared.map((p) => p.name)).size, 2)
    })
  })

  it('prepares at most 200 texts; the rest run unprepared, with the same results', async () => {
    await db.transaction(async (tx) => {
      for (let i = 0; i < 210; i++) {
        const rows = await tx.query<{ n: number }>(`SELECT $1::int + ${i} AS n`, [1], { prepare: true })
        assert.equal(rows[0]!.n, i + 1)
      }
      // The test above named two texts ('+ 1', which i = 1 repeats, and '* 2'): 198 names
      // were left for the 209 new texts here.
      const named = (await preparedOn(tx)).filter((p) => p.statement.startsWith('SELECT $1::int + '))
      assert.equal(named.length, 199)
    })
  })
})

describe('prepared statements [pglite]', () => {
  let db: Database

  before(async () => {
    db = await openTestDatabase('pglite')
  })
  after(() => db.close())

  it('runs a statement asked to be prepared like any other', async () => {
    const rows = await db.query<{ n: number }>('SELECT $1::int + 1 AS n', [41], { prepare: true })
    assert.equal(rows[0]!.n, 42)
  })
})
