// Transactions that lose to concurrent ones (PostgreSQL's deadlock victim, 40P01) are run again
// instead of failing the request (src/db/database.ts, retryConflicts); when they keep losing,
// the server answers ABORTED, which clients retry, not INTERNAL.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Code } from '@connectrpc/connect'
import type { Database } from '../../src/db/database.js'
import { retryConflicts } from '../../src/db/database.js'
import { TransactionConflictError } from '../../src/lib/errors.js'
import { logger } from '../../src/lib/logger.js'
import { errorsAndMetrics } from '../../src/server/interceptors.js'
import { ServerMetrics } from '../../src/server/metrics.js'
import { openTestDatabase } from '../support/databases.js'

/** Resolves when `n` parties arrived; the transactions meet here holding their first lock. */
function barrier(n: number) {
  let arrived = 0
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return async () => {
    if (++arrived === n) open()
    await opened
  }
}

describe('transactions that deadlock [postgres]', () => {
  let db: Database

  before(async () => {
    db = await openTestDatabase('postgres')
    await db.exec('CREATE TABLE conflict_test (id INT PRIMARY KEY, n INT NOT NULL)')
    await db.exec('INSERT INTO conflict_test VALUES (1, 0), (2, 0)')
  })
  after(() => db.close())

  it('run again: both of two transactions that lock two rows in opposite orders commit', async () => {
    const meet = barrier(2)
    let runs = 0
    const crossing = (first: number, second: number) =>
      db.transaction(async (tx) => {
        runs++
        await tx.query('UPDATE conflict_test SET n = n + 1 WHERE id = $1', [first])
        if (runs <= 2) await meet()
        await tx.query('UPDATE conflict_test SET n = n + 1 WHERE id = $1', [second])
      })
    await Promise.all([crossing(1, 2), crossing(2, 1)])
    assert.equal(runs, 3, 'the deadlock victim ran once more')
    const rows = await db.query<{ n: number }>('SELECT n FROM conflict_test ORDER BY id')
    assert.deepEqual(
      rows.map((r) => r.n),
      [2, 2],
      'each committed once',
    )
  })
})

describe('retryConflicts', () => {
  const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' })
  const noPause = async () => undefined

  it('gives up after its tries with TransactionConflictError, which the server answers ABORTED', async () => {
    let tries = 0
    const err = await retryConflicts(
      async () => {
        tries++
        throw deadlock()
      },
      3,
      noPause,
    ).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    )
    assert.equal(tries, 3)
    assert.ok(err instanceof TransactionConflictError)
    const interceptor = errorsAndMetrics(new ServerMetrics(), logger('test'))
    const call = interceptor(async () => {
      throw err
    })
    await assert.rejects(call({ method: { name: 'TrackHolePunch' } } as never), (e: { code: Code }) => {
      assert.equal(e.code, Code.Aborted)
      return true
    })
  })

  it('passes other errors through at once', async () => {
    let tries = 0
    const other = Object.assign(new Error('unique violation'), { code: '23505' })
    await assert.rejects(
      retryConflicts(
        async () => {
          tries++
          throw other
        },
        3,
        noPause,
      ),
      other,
    )
    assert.equal(tries, 1)
  })
})
