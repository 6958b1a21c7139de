// Group commit against a recording sink: what goes into one batch, when a batch is written,
// and whom a failure reaches (the real database: dashboard-rollups.test.ts, server-ingest.test.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { DatabaseUnavailableError } from '../../src/lib/errors.js'
import { type BatchWritten, GroupCommit, type GroupCommitOptions } from '../../src/server/group-commit.js'

/** A sink that records each batch and answers every item with its double; `hold` stalls writes. */
function sink(fail: (batch: readonly number[]) => Error | undefined = () => undefined) {
  const batches: number[][] = []
  let gate: Promise<void> = Promise.resolve()
  let release = () => {}
  return {
    batches,
    hold() {
      gate = new Promise((resolve) => (release = resolve))
    },
    release: () => release(),
    write: async (items: readonly number[]) => {
      batches.push([...items])
      await gate
      const err = fail(items)
      if (err !== undefined) throw err
      return items.map((n) => n * 2)
    },
  }
}

const options = (o: Partial<GroupCommitOptions> = {}): GroupCommitOptions => ({
  maxItems: 100,
  maxBytes: 1_000_000,
  windowMs: 5,
  concurrency: 1,
  ...o,
})

describe('group commit', () => {
  it('writes items that arrive within the window as one batch and answers each with its own result', async () => {
    const s = sink()
    const written: BatchWritten[] = []
    const group = new GroupCommit(s.write, options({ windowMs: 20 }), (b) => written.push(b))
    const answers = await Promise.all([1, 2, 3].map((n) => group.add(n, 10)))
    await group.flush()
    assert.deepEqual(answers, [2, 4, 6])
    assert.deepEqual(s.batches, [[1, 2, 3]])
    assert.equal(written.length, 1)
    assert.equal(written[0]!.items, 3)
    assert.equal(written[0]!.split, false)
  })

  it('starts a new batch at maxItems and at maxBytes', async () => {
    const byCount = sink()
    const group = new GroupCommit(byCount.write, options({ maxItems: 2, windowMs: 50 }))
    await Promise.all([1, 2, 3, 4, 5].map((n) => group.add(n, 1)))
    assert.deepEqual(byCount.batches, [[1, 2], [3, 4], [5]])

    const byBytes = sink()
    const bounded = new GroupCommit(byBytes.write, options({ maxBytes: 100, windowMs: 50 }))
    // 60 + 60 > 100: the second starts a batch; an item over the bound still gets one of its own.
    await Promise.all([
      bounded.add(1, 60),
      bounded.add(2, 30),
      bounded.add(3, 60),
      bounded.add(4, 500),
      bounded.add(5, 1),
    ])
    assert.deepEqual(byBytes.batches, [[1, 2], [3], [4], [5]])
  })

  it('without a window, writes at once and collects what arrives while the database is busy', async () => {
    const s = sink()
    s.hold()
    const group = new GroupCommit(s.write, options({ windowMs: 0 }))
    const first = group.add(1, 1)
    await sleep(5)
    assert.deepEqual(s.batches, [[1]], 'the first item did not wait for company')
    const rest = [2, 3, 4].map((n) => group.add(n, 1))
    assert.equal(group.pending, 4)
    s.release()
    s.hold()
    await first
    s.release()
    assert.deepEqual(await Promise.all(rest), [4, 6, 8])
    assert.deepEqual(s.batches, [[1], [2, 3, 4]])
  })

  it('a batch waiting for a write slot keeps filling after its window', async () => {
    const s = sink()
    s.hold()
    const group = new GroupCommit(s.write, options({ windowMs: 2 }))
    const first = group.add(1, 1)
    await sleep(20)
    const later = [group.add(2, 1)]
    await sleep(20) // the second batch's window has passed; the slot is still busy
    later.push(group.add(3, 1))
    s.release()
    await Promise.all([first, ...later])
    assert.deepEqual(s.batches, [[1], [2, 3]])
  })

  it('a batch that fails is written again in halves: only the bad item fails', async () => {
    const s = sink((batch) => (batch.includes(13) ? new Error('item 13 breaks a constraint') : undefined))
    const written: BatchWritten[] = []
    const group = new GroupCommit(s.write, options({ windowMs: 20 }), (b) => written.push(b))
    const results = await Promise.allSettled([10, 11, 12, 13, 14, 15, 16, 17].map((n) => group.add(n, 1)))
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      [20, 22, 24, 'item 13 breaks a constraint', 28, 30, 32, 34],
    )
    // 8 → 4 + 4 → the bad half 2 + 2 → 1 + 1: seven writes, not nine.
    assert.deepEqual(s.batches, [
      [10, 11, 12, 13, 14, 15, 16, 17],
      [10, 11, 12, 13],
      [10, 11],
      [12, 13],
      [12],
      [13],
      [14, 15, 16, 17],
    ])
    await group.flush() // the batch's report comes after its callers' answers
    assert.deepEqual(
      written.map((w) => [w.items, w.split]),
      [[8, true]],
    )
  })

  it('a batch full by bytes goes as soon as a slot is free, not after its window', async () => {
    const s = sink()
    const group = new GroupCommit(s.write, options({ maxBytes: 100, windowMs: 60_000 }))
    const first = group.add(1, 80)
    const second = group.add(2, 80) // does not fit: the first batch is ready now
    assert.equal(await first, 2)
    assert.deepEqual(s.batches, [[1]])
    await group.flush()
    assert.equal(await second, 4)
  })

  it('an unavailable database fails the whole batch at once, without writing items alone', async () => {
    const s = sink(() => new DatabaseUnavailableError('connection refused'))
    const group = new GroupCommit(s.write, options({ windowMs: 20 }))
    const results = await Promise.allSettled([1, 2].map((n) => group.add(n, 1)))
    for (const r of results) {
      assert.equal(r.status, 'rejected')
      assert.ok(r.reason instanceof DatabaseUnavailableError)
    }
    assert.equal(s.batches.length, 1)
  })

  it('flush writes what waits at once and returns when nothing is pending', async () => {
    const s = sink()
    const group = new GroupCommit(s.write, options({ windowMs: 60_000 }))
    const answer = group.add(7, 1)
    await group.flush()
    assert.equal(group.pending, 0)
    assert.equal(await answer, 14)
  })

  it('writes up to `concurrency` batches at the same time, never more', async () => {
    let writing = 0
    let most = 0
    const group = new GroupCommit(
      async (items: readonly number[]) => {
        most = Math.max(most, ++writing)
        await sleep(10)
        writing--
        return [...items]
      },
      options({ maxItems: 1, windowMs: 0, concurrency: 2 }),
    )
    await Promise.all([1, 2, 3, 4, 5, 6].map((n) => group.add(n, 1)))
    assert.equal(most, 2)
  })
})
