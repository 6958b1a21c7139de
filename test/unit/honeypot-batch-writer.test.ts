// The honeypot's batch writer against a fake sink: when it writes, what it keeps, what it
// drops, and how it rides out a database outage (the real database: honeypot-flood.test.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { BatchWriter, type BatchWriterInit, type WriterEvent } from '../../src/honeypot/batch-writer.js'
import { DatabaseUnavailableError } from '../../src/lib/errors.js'
import { until } from '../support/until.js'

interface Item {
  peer: string
  n: number
}

/** A sink that records batches; `fail` decides per call whether (and how) it throws. */
function sink(fail: (batch: Item[], call: number) => Error | undefined = () => undefined) {
  const batches: Item[][] = []
  let calls = 0
  let gate: Promise<void> = Promise.resolve()
  let open = () => {}
  return {
    batches,
    get calls() {
      return calls
    },
    /** Holds every write until release() is called. */
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
    write: async (batch: Item[]) => {
      const call = ++calls
      await gate
      const err = fail(batch, call)
      if (err !== undefined) throw err
      batches.push(batch)
    },
  }
}

function writer(s: ReturnType<typeof sink>, options: Partial<BatchWriterInit<Item>> = {}) {
  const events: WriterEvent[] = []
  const w = new BatchWriter<Item>({
    write: s.write,
    key: (i) => i.peer,
    maxBatch: 3,
    interval: 60_000,
    maxBuffer: 100,
    retryInitial: 1,
    retryMax: 4,
    onEvent: (e) => events.push(e),
    ...options,
  })
  const count = (type: WriterEvent['type']) => events.filter((e) => e.type === type).length
  const dropped = (reason: string) =>
    events.reduce((n, e) => n + (e.type === 'dropped' && e.reason === reason ? e.count : 0), 0)
  return { w, events, count, dropped }
}

const items = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ peer: `p${from + i}`, n: from + i }))

describe('honeypot batch writer', () => {
  it('writes a batch as soon as it holds maxBatch items, without waiting for the timer', async () => {
    const s = sink()
    const { w } = writer(s)
    w.start()
    for (const item of items(3)) w.push(item)
    await until('s.batches.length === 1', () => s.batches.length === 1, 1_000)
    assert.deepEqual(
      s.batches[0]!.map((i) => i.n),
      [0, 1, 2],
    )
    w.push({ peer: 'late', n: 3 })
    await sleep(50)
    assert.equal(s.batches.length, 1, 'one item waits for the timer (60 s here)')
    assert.equal(w.pending, 1)
    await w.stop(1000)
    assert.deepEqual(s.batches[1], [{ peer: 'late', n: 3 }], 'stop() writes the rest')
  })

  it('writes full batches that piled up during a write at once; the remainder waits for the timer', async () => {
    const s = sink()
    const { w } = writer(s)
    s.hold()
    for (const item of items(10)) w.push(item)
    s.release()
    await until('s.batches.length === 3', () => s.batches.length === 3, 1_000)
    await sleep(50)
    assert.deepEqual(
      s.batches.map((b) => b.length),
      [3, 3, 3],
    )
    assert.equal(w.pending, 1)
    await w.stop(1000)
    assert.deepEqual(s.batches[3], [{ peer: 'p9', n: 9 }])
  })

  it('writes what waits when the interval passes', async () => {
    const s = sink()
    const { w } = writer(s, { interval: 20 })
    w.start()
    w.push({ peer: 'a', n: 1 })
    assert.equal(s.calls, 0)
    await until('s.batches.length === 1', () => s.batches.length === 1, 1_000)
    assert.deepEqual(s.batches[0], [{ peer: 'a', n: 1 }])
    await w.stop(1000)
  })

  it('keeps one item per key, the latest, which moves to the back', async () => {
    const s = sink()
    const { w, count } = writer(s, { maxBatch: 10 })
    w.push({ peer: 'a', n: 1 })
    w.push({ peer: 'b', n: 2 })
    w.push({ peer: 'a', n: 3 })
    await w.stop(1000)
    assert.deepEqual(s.batches, [
      [
        { peer: 'b', n: 2 },
        { peer: 'a', n: 3 },
      ],
    ])
    assert.equal(count('deduplicated'), 1)
  })

  it('caps the buffer: the oldest items are dropped and counted while the database is slow', async () => {
    const s = sink()
    const { w, dropped } = writer(s, { maxBatch: 2, maxBuffer: 5 })
    s.hold()
    for (const item of items(2)) w.push(item) // the batch in flight
    await until('s.calls === 1', () => s.calls === 1, 1_000)
    for (const item of items(8, 2)) w.push(item) // 8 into a buffer of 5
    assert.equal(dropped('buffer_full'), 3)
    assert.equal(w.pending, 7, '2 in flight + 5 buffered: bounded')
    s.release()
    await w.stop(1000)
    assert.deepEqual(
      s.batches.flat().map((i) => i.n),
      [0, 1, 5, 6, 7, 8, 9],
      'items 2–4 (the oldest waiting) were dropped',
    )
  })

  it('retries a batch with backoff while the database is unavailable, then writes it once', async () => {
    const s = sink((_, call) => (call <= 3 ? new DatabaseUnavailableError('connection refused') : undefined))
    const { w, events, count } = writer(s)
    for (const item of items(3)) w.push(item)
    await until('s.batches.length === 1', () => s.batches.length === 1, 1_000)
    assert.equal(count('unavailable'), 3)
    assert.deepEqual(
      events.filter((e) => e.type === 'unavailable').map((e) => (e.type === 'unavailable' ? e.failures : 0)),
      [1, 2, 3],
    )
    assert.deepEqual(
      s.batches[0]!.map((i) => i.n),
      [0, 1, 2],
    )
    await w.stop(1000)
  })

  it('isolates an item the database rejects: its neighbours are written, it alone is dropped', async () => {
    const s = sink((batch) =>
      batch.some((i) => i.peer === 'p4') ? new Error('invalid byte sequence') : undefined,
    )
    const { w, dropped } = writer(s, { maxBatch: 8 })
    for (const item of items(8)) w.push(item)
    await w.stop(1000)
    assert.deepEqual(
      s.batches
        .flat()
        .map((i) => i.n)
        .sort((a, b) => a - b),
      [0, 1, 2, 3, 5, 6, 7],
    )
    assert.equal(dropped('rejected'), 1)
  })

  it('stop() writes everything that waits, in as many batches as it takes', async () => {
    const s = sink()
    const { w } = writer(s)
    s.hold()
    for (const item of items(11)) w.push(item)
    const stopped = w.stop(1000)
    s.release()
    await stopped
    assert.deepEqual(
      s.batches.map((b) => b.length),
      [3, 3, 3, 2],
    )
    assert.equal(w.pending, 0)
  })

  it('stop() gives an outage a deadline, drops what is left, and never rejects', async () => {
    const s = sink(() => new DatabaseUnavailableError('database is down'))
    const { w, dropped } = writer(s, { retryInitial: 5, retryMax: 10 })
    w.start()
    for (const item of items(4)) w.push(item)
    const started = Date.now()
    await w.stop(100)
    assert.ok(Date.now() - started < 2000, 'stop() returned soon after its deadline')
    assert.equal(dropped('shutdown'), 4)
    assert.equal(w.pending, 0)
    w.push({ peer: 'late', n: 99 })
    assert.equal(dropped('shutdown'), 5, 'items after stop are dropped, not kept')
  })
})
