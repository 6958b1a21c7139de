import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Database } from '../../src/db/database.js'
import { DatabaseUnavailableError } from '../../src/lib/errors.js'
import { openTestDatabase } from '../support/databases.js'

/**
 * A PostgreSQL connection that dies while a transaction holds it (a server restart mid-load)
 * must fail that transaction with DatabaseUnavailableError and nothing else: pg also emits
 * 'error' on the client, and an unheard one would be an uncaughtException, which fails this
 * file. The pool must hand out working connections afterwards.
 */
describe('PostgreSQL connection lost inside a transaction', () => {
  let db: Database

  before(async () => {
    db = await openTestDatabase('postgres')
  })
  after(async () => {
    await db.close()
  })

  it('rejects the transaction as unavailable and keeps the process alive', async () => {
    for (let round = 0; round < 3; round++) {
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('SELECT pg_terminate_backend(pg_backend_pid())')
        }),
        (err) => err instanceof DatabaseUnavailableError,
      )
      // Give the socket's 'end' (and the 'error' pg emits on it) time to arrive.
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })

  it('a connection killed between two queries of a transaction fails the next query only', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        await db.query('SELECT pg_terminate_backend($1)', [row!.pid])
        await new Promise((resolve) => setTimeout(resolve, 200))
        await tx.query('SELECT 1')
      }),
      (err) => err instanceof DatabaseUnavailableError,
    )
  })

  it('serves queries and transactions afterwards', async () => {
    const rows = await db.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))
    assert.deepEqual(rows, [{ one: 1 }])
    assert.deepEqual(await db.query<{ two: number }>('SELECT 2 AS two'), [{ two: 2 }])
  })
})
