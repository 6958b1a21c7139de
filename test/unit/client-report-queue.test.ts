import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { backoffDelay, sleep } from '../../src/client/backoff.js'
import { ApiError, Code } from '../../src/client/grpc-call.js'
import {
  type QueueEvent,
  QueueFullError,
  type RejectionReason,
  ReportQueue,
  type ReportQueueOptions,
} from '../../src/client/report-queue.js'
import { TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { fullReport, newPeer } from '../support/fixtures.js'

/** A sender whose answers the test scripts: each call takes the next answer (the last repeats). */
function scriptedSender(answers: (Error | 'ok' | 'hang')[]) {
  const calls: Uint8Array[] = []
  const send = (report: Uint8Array, signal: AbortSignal): Promise<void> => {
    calls.push(new Uint8Array(report))
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!
    if (answer === 'ok') return Promise.resolve()
    if (answer === 'hang') {
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      )
    }
    return Promise.reject(answer)
  }
  return { calls, send }
}

/** A sleep that returns at once and remembers what it was asked to wait. */
function recordingSleep() {
  const waits: number[] = []
  return { waits, sleep: async (ms: number) => void waits.push(ms) }
}

/** Resolves once `events` holds an event that satisfies `check`. */
async function eventually(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const unavailable = () => new ApiError('connect ECONNREFUSED 127.0.0.1:10000', Code.Unavailable)
const bytes = (text: string) => new TextEncoder().encode(text)

describe('report queue', () => {
  let dir: string
  let queues: ReportQueue[]

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'punchr-queue-test-'))
    queues = []
  })
  afterEach(async () => {
    await Promise.all(queues.map((q) => q.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  async function open(options: Partial<ReportQueueOptions> & Pick<ReportQueueOptions, 'send'>) {
    const queue = await ReportQueue.open({ dir, sleep: async () => undefined, ...options })
    queues.push(queue)
    return queue
  }

  it('keeps reports on disk before sending and picks them up after a restart, oldest first', async () => {
    const first = await open({ send: scriptedSender(['ok']).send })
    // Not started: the process "dies" with three reports queued.
    const names = [
      await first.enqueue(bytes('one')),
      await first.enqueue(bytes('two')),
      await first.enqueue(bytes('three')),
    ]
    assert.deepEqual(first.depth, { reports: 3, bytes: 11 })
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.report')).sort(), [...names].sort())

    const sender = scriptedSender(['ok'])
    const events: QueueEvent[] = []
    const second = await open({ send: sender.send, onEvent: (e) => events.push(e) })
    assert.deepEqual(second.queued(), names, 'a new instance finds them, in arrival order')
    assert.deepEqual(events[0], { type: 'recovered', depth: { reports: 3, bytes: 11 }, removedTempFiles: 0 })
    second.start()
    assert.equal(await second.drain(5_000), true)
    assert.deepEqual(
      sender.calls.map((c) => new TextDecoder().decode(c)),
      ['one', 'two', 'three'],
    )
    assert.deepEqual((await readdir(dir)).sort(), ['rejected'], 'sent reports leave the disk')
  })

  it('retries transient errors with capped, jittered exponential backoff, then sends', async () => {
    const sender = scriptedSender([
      unavailable(),
      unavailable(),
      unavailable(),
      unavailable(),
      unavailable(),
      'ok',
    ])
    const { waits, sleep } = recordingSleep()
    const events: QueueEvent[] = []
    const backoff = { initial: 1_000, max: 6_000 }
    const queue = await open({
      send: sender.send,
      sleep,
      backoff,
      random: () => 0.5,
      onEvent: (e) => events.push(e),
    })
    await queue.enqueue(bytes('report'))
    queue.start()
    assert.equal(await queue.drain(5_000), true)
    assert.equal(sender.calls.length, 6)
    // 1 s, 2 s, 4 s, then capped at 6 s; "equal jitter" keeps the upper half: 0.5 → 75 %.
    assert.deepEqual(waits, [750, 1_500, 3_000, 4_500, 4_500])
    const retries = events.filter((e) => e.type === 'retry')
    assert.deepEqual(
      retries.map((e) => [e.attempts, e.error.kind, e.error.code]),
      [1, 2, 3, 4, 5].map((n) => [n, 'transient', 'Unavailable']),
    )
    assert.deepEqual(events.at(-1), {
      type: 'sent',
      id: retries[0]!.id,
      attempts: 6,
      depth: { reports: 0, bytes: 0 },
    })
  })

  it('spreads waits over the upper half of each step and never beyond the cap', () => {
    const options = { initial: 1_000, max: 300_000 }
    assert.equal(
      backoffDelay(1, options, () => 0),
      500,
    )
    assert.equal(
      backoffDelay(1, options, () => 0.999_999),
      1_000,
    )
    assert.equal(
      backoffDelay(3, options, () => 0),
      2_000,
    )
    assert.ok(backoffDelay(40, options, () => 0.999_999) <= 300_000)
    assert.equal(
      backoffDelay(40, options, () => 0),
      150_000,
    )
  })

  it('sets a permanently refused report aside in rejected/ with the reason, and goes on', async () => {
    const refused = new ApiError(
      'hole_punch_attempts[0].outcome: UNKNOWN is not an outcome',
      Code.InvalidArgument,
    )
    const sender = scriptedSender([refused, 'ok'])
    const events: QueueEvent[] = []
    const now = new Date('2026-01-02T03:04:05.000Z')
    const queue = await open({ send: sender.send, now: () => now, onEvent: (e) => events.push(e) })
    const bad = await queue.enqueue(bytes('bad'))
    const good = await queue.enqueue(bytes('good'))
    queue.start()
    assert.equal(await queue.drain(5_000), true)

    assert.equal(sender.calls.length, 2, 'tried once, not retried')
    assert.deepEqual(await readdir(join(dir, 'rejected')), [bad, `${bad}.reason.json`].sort())
    assert.equal(await readFile(join(dir, 'rejected', bad), 'utf8'), 'bad', 'kept byte for byte')
    const reason = JSON.parse(
      await readFile(join(dir, 'rejected', `${bad}.reason.json`), 'utf8'),
    ) as RejectionReason
    assert.deepEqual(reason, {
      kind: 'permanent',
      code: 'InvalidArgument',
      message: 'hole_punch_attempts[0].outcome: UNKNOWN is not an outcome',
      attempts: 1,
      rejectedAt: '2026-01-02T03:04:05.000Z',
    })
    assert.deepEqual(
      events.filter((e) => e.type === 'rejected' || e.type === 'sent').map((e) => [e.type, e.id]),
      [
        ['rejected', bad],
        ['sent', good],
      ],
    )
    // A restart does not send a rejected report again.
    const again = scriptedSender(['ok'])
    const reopened = await open({ send: again.send })
    assert.deepEqual(reopened.depth, { reports: 0, bytes: 0 })
  })

  it('gives errors of unknown kind a few tries before setting the report aside', async () => {
    const internal = new ApiError('internal error', Code.Internal)
    const sender = scriptedSender([internal])
    const queue = await open({ send: sender.send, maxUnknownAttempts: 3, backoff: { initial: 1, max: 4 } })
    const name = await queue.enqueue(bytes('x'))
    queue.start()
    assert.equal(await queue.drain(5_000), true)
    assert.equal(sender.calls.length, 3)
    const reason = JSON.parse(
      await readFile(join(dir, 'rejected', `${name}.reason.json`), 'utf8'),
    ) as RejectionReason
    assert.equal(reason.kind, 'unknown')
    assert.equal(reason.attempts, 3)
  })

  it('an unknown error waits on its own report: the reports behind it go out meanwhile', async () => {
    const internal = new ApiError('internal error', Code.Internal)
    const sent: string[] = []
    const send = async (report: Uint8Array) => {
      const text = new TextDecoder().decode(report)
      sent.push(text)
      if (text === 'poisoned') throw internal
    }
    const events: QueueEvent[] = []
    const queue = await open({
      send,
      maxUnknownAttempts: 3,
      backoff: { initial: 200, max: 400 },
      // Real waits: with the instant test sleep, the wait for the only report left (due in
      // 100–400 ms) would spin without yielding, a fresh AbortSignal.any each turn, which
      // slowed to seconds on a loaded machine (CI).
      sleep,
      onEvent: (e) => events.push(e),
    })
    const poisoned = await queue.enqueue(bytes('poisoned'))
    await queue.enqueue(bytes('fine-1'))
    await queue.enqueue(bytes('fine-2'))
    queue.start()
    await eventually('the fine reports', () => sent.includes('fine-2'))
    // The second and third sends are the reports behind the one that failed, without waiting.
    assert.deepEqual(sent.slice(0, 3), ['poisoned', 'fine-1', 'fine-2'])
    assert.equal(await queue.drain(5_000), true)
    assert.deepEqual(
      sent.filter((s) => s === 'poisoned').length,
      3,
      'the failing report was tried again after its backoff, then set aside',
    )
    assert.ok(events.some((e) => e.type === 'rejected' && e.id === poisoned))
    assert.deepEqual(await readdir(join(dir, 'rejected')), [poisoned, `${poisoned}.reason.json`].sort())
  })

  it('is bounded by count and by bytes, says so, and makes room as reports go out', async () => {
    const events: QueueEvent[] = []
    const byCount = await open({
      send: scriptedSender(['ok']).send,
      maxReports: 2,
      onEvent: (e) => events.push(e),
    })
    await byCount.enqueue(bytes('a'))
    assert.equal(byCount.isFull(), false)
    await byCount.enqueue(bytes('b'))
    assert.equal(byCount.isFull(), true)
    assert.match(byCount.fullReason() ?? '', /2 reports queued \(limit 2\)/)
    assert.deepEqual(events.at(-1), {
      type: 'full',
      depth: { reports: 2, bytes: 2 },
      reason: byCount.fullReason(),
    })
    await assert.rejects(byCount.enqueue(bytes('c')), QueueFullError)
    assert.deepEqual(byCount.depth, { reports: 2, bytes: 2 }, 'nothing was written for the refused one')

    const waiting = byCount.waitForSpace()
    byCount.start()
    await waiting
    assert.equal(byCount.isFull(), false)
    await byCount.stop()

    const bySize = await ReportQueue.open({
      dir: join(dir, 'sized'),
      send: scriptedSender(['ok']).send,
      maxBytes: 10,
    })
    queues.push(bySize)
    await bySize.enqueue(bytes('0123456789'))
    assert.match(bySize.fullReason() ?? '', /10 bytes queued \(limit 10\)/)
  })

  it('ignores and removes a report a crash left half-written, keeps the complete ones', async () => {
    const first = await open({ send: scriptedSender(['ok']).send })
    const complete = await first.enqueue(bytes('complete'))
    // What writeFileAtomic leaves when the process dies before its rename.
    await writeFile(join(dir, `.${complete.replace('000001', '000002')}.deadbeef.tmp`), 'half a rep')
    // Not a report at all: left alone.
    await writeFile(join(dir, 'README'), 'notes')

    const events: QueueEvent[] = []
    const sender = scriptedSender(['ok'])
    const second = await open({ send: sender.send, onEvent: (e) => events.push(e) })
    assert.deepEqual(events[0], { type: 'recovered', depth: { reports: 1, bytes: 8 }, removedTempFiles: 1 })
    assert.deepEqual((await readdir(dir)).sort(), ['README', complete, 'rejected'].sort())
    second.start()
    assert.equal(await second.drain(5_000), true)
    assert.deepEqual(
      sender.calls.map((c) => new TextDecoder().decode(c)),
      ['complete'],
    )
  })

  it('resends a TrackHolePunchRequest byte for byte, also after a restart', async () => {
    const [client, remote, relay] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const report = toBinary(TrackHolePunchRequestSchema, fullReport({ client, remote, relay, apiKey: 'k' }))
    const first = await open({ send: scriptedSender([unavailable()]).send })
    await first.enqueue(report)
    first.start()
    await eventually('a failed send', () => first.depth.reports === 1)
    await first.stop()

    const sender = scriptedSender([unavailable(), 'ok'])
    const second = await open({ send: sender.send })
    second.start()
    assert.equal(await second.drain(5_000), true)
    assert.equal(sender.calls.length, 2)
    for (const sent of sender.calls) assert.deepEqual(sent, report)
    // What goes on the wire is the decoded message encoded again: the same bytes, so the
    // server's content hash sees the same report (ADR 0003).
    assert.deepEqual(
      toBinary(TrackHolePunchRequestSchema, fromBinary(TrackHolePunchRequestSchema, report)),
      report,
    )
  })

  /**
   * A started queue whose one report met `error` at its first send and is now waiting: with
   * the real sleep and a backoff far longer than any test, only retryNow or drain ends it.
   * The second send succeeds.
   */
  async function failedOnce(error: Error) {
    const sender = scriptedSender([error, 'ok'])
    const queue = await open({ send: sender.send, sleep, backoff: { initial: 600_000, max: 600_000 } })
    await queue.enqueue(bytes('report'))
    queue.start()
    await eventually('the first send to fail', () => sender.calls.length === 1)
    return { sender, queue }
  }

  it('retryNow() ends a long wait after a transient failure: the server was heard from', async () => {
    const { sender, queue } = await failedOnce(unavailable())
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(sender.calls.length, 1, 'waiting out its backoff')
    queue.retryNow()
    await eventually('the report to go out', () => queue.depth.reports === 0)
    assert.equal(sender.calls.length, 2)
  })

  it('drain() tries at once instead of waiting out a backoff longer than its bound', async () => {
    const { sender, queue } = await failedOnce(unavailable())
    assert.equal(await queue.drain(2_000), true)
    assert.equal(sender.calls.length, 2)
  })

  it("retryNow() leaves a report's own wait after an unknown error alone", async () => {
    const { sender, queue } = await failedOnce(new ApiError('boom', Code.Internal))
    queue.retryNow()
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(sender.calls.length, 1, 'still waiting: the error was about this report')
  })

  it('stop() aborts a send in flight and keeps its report queued', async () => {
    const sender = scriptedSender(['hang'])
    const queue = await open({ send: sender.send })
    const name = await queue.enqueue(bytes('in flight'))
    queue.start()
    await eventually('the send to start', () => sender.calls.length === 1)
    await queue.stop()
    assert.deepEqual(queue.queued(), [name])
    assert.ok((await readdir(dir)).includes(name))
  })
})
