import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  bucketSeconds,
  bucketStarts,
  cdfFromHistogram,
  fillBuckets,
  logEdges,
  proportion,
} from '../../src/dashboard/statistics.js'

function near(actual: number | null, expected: number, what: string, epsilon = 5e-5): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < epsilon, `${what}: ${actual} ≠ ${expected}`)
}

describe('proportion: Wilson score interval, 95 %', () => {
  // Worked by hand with z = 1.95996: centre = (p + z²/2n) / (1 + z²/n),
  // half = z·√(p(1-p)/n + z²/4n²) / (1 + z²/n). 7/10: z²/n = 0.384146, centre = 0.644471,
  // half = 0.247716 → [0.39678, 0.89221] (Newcombe 1998 lists 0.3968–0.8922).
  const cases: [number, number, number, number, number][] = [
    [7, 10, 0.7, 0.39678, 0.89221],
    // 0/10: centre = half = 0.138764 → [0, 0.27753]: not the degenerate [0, 0] of p ± z·√(p(1-p)/n).
    [0, 10, 0, 0, 0.27753],
    [10, 10, 1, 0.72247, 1],
    // 1/2: z²/n = 1.920729, centre = 0.5, half = 0.405469.
    [1, 2, 0.5, 0.09453, 0.90547],
    // 81/263 (Newcombe's example): 0.2553–0.3662.
    [81, 263, 81 / 263, 0.25529, 0.36621],
  ]
  for (const [successes, trials, rate, low, high] of cases) {
    it(`${successes}/${trials}`, () => {
      const p = proportion(successes, trials)
      assert.equal(p.successes, successes)
      assert.equal(p.trials, trials)
      near(p.rate, rate, 'rate', 1e-12)
      near(p.low, low, 'low')
      near(p.high, high, 'high')
    })
  }

  it('no trials: no rate and no interval (not 0 %)', () => {
    assert.deepEqual(proportion(0, 0), { successes: 0, trials: 0, rate: null, low: null, high: null })
  })

  it('the interval narrows as trials grow', () => {
    const small = proportion(7, 10)
    const large = proportion(700, 1000)
    assert.ok(large.high! - large.low! < small.high! - small.low!)
    near(large.low, 0.67088, 'low of 700/1000')
  })

  for (const [s, n] of [
    [3, 2],
    [-1, 2],
    [1.5, 3],
  ]) {
    it(`rejects ${s}/${n}`, () => assert.throws(() => proportion(s!, n!), RangeError))
  }
})

describe('logEdges', () => {
  it('starts at 0, then 10 edges per decade rounded to 3 digits', () => {
    const edges = logEdges(0.001, 1, 10)
    assert.equal(edges.length, 32)
    assert.deepEqual(edges.slice(0, 5), [0, 0.001, 0.00126, 0.00158, 0.002])
    assert.equal(edges.at(-1), 1)
    assert.ok(edges.includes(0.0501), '10^-1.3 rounds to 0.0501')
    for (let i = 1; i < edges.length; i++) assert.ok(edges[i]! > edges[i - 1]!, 'strictly increasing')
  })
})

describe('cdfFromHistogram', () => {
  const edges = [0, 1, 2, 3, 4, 5]

  it('the share below each edge; flat runs at both ends cut to one point', () => {
    // width_bucket numbering: bin 2 = [1, 2), bin 4 = [3, 4). Values 1.5, 3.2, 3.7, 3.9.
    const cdf = cdfFromHistogram(
      edges,
      new Map([
        [2, 1],
        [4, 3],
      ]),
    )
    assert.deepEqual(cdf, [
      { x: 1, p: 0 },
      { x: 2, p: 0.25 },
      { x: 3, p: 0.25 },
      { x: 4, p: 1 },
    ])
  })

  it('values in the first bin: the curve starts above zero', () => {
    assert.deepEqual(cdfFromHistogram(edges, new Map([[1, 2]])), [{ x: 1, p: 1 }])
  })

  it('values beyond the last edge keep the curve below 1', () => {
    assert.deepEqual(
      cdfFromHistogram(
        edges,
        new Map([
          [5, 1],
          [6, 1],
        ]),
      ),
      [
        { x: 4, p: 0 },
        { x: 5, p: 0.5 },
      ],
    )
  })

  it('no values, or only zero counts, give no points', () => {
    assert.deepEqual(cdfFromHistogram(edges, new Map()), [])
    assert.deepEqual(cdfFromHistogram(edges, new Map([[3, 0]])), [])
  })

  it('rejects a bin that width_bucket cannot return', () => {
    assert.throws(() => cdfFromHistogram(edges, new Map([[7, 1]])), RangeError)
    assert.throws(() => cdfFromHistogram(edges, new Map([[-1, 1]])), RangeError)
  })
})

describe('time buckets', () => {
  const cases: [string, number, number][] = [
    ['an hour: minutes', 3600, 60],
    ['200 minutes: still minutes', 200 * 60, 60],
    ['201 minutes: five minutes', 201 * 60, 300],
    ['a day: 15 minutes', 86_400, 900],
    ['a week: hours', 7 * 86_400, 3600],
    ['30 days: 6 hours', 30 * 86_400, 6 * 3600],
    ['90 days: 12 hours', 90 * 86_400, 12 * 3600],
    ['150 days: days', 150 * 86_400, 86_400],
    ['a year: weeks', 365 * 86_400, 7 * 86_400],
    ['ten years: whole days beyond weeks', 3650 * 86_400, 19 * 86_400],
  ]
  for (const [name, range, step] of cases) {
    it(`bucketSeconds, ${name}`, () => {
      assert.equal(bucketSeconds(range), step)
      assert.ok(Math.ceil(range / step) <= 200)
    })
  }

  it('bucketStarts aligns to multiples of the step and covers the range', () => {
    assert.deepEqual(bucketStarts(125, 300, 60), [120, 180, 240])
    assert.deepEqual(bucketStarts(120, 180, 60), [120])
    assert.deepEqual(bucketStarts(120, 120, 60), [])
  })

  it('fillBuckets: zero counts where nothing was counted', () => {
    const filled = fillBuckets(
      [0, 60, 120],
      ['SUCCESS', 'FAILED'],
      [
        { bucket: 60, key: 'SUCCESS', n: 2 },
        { bucket: 60, key: 'FAILED', n: 1 },
        { bucket: 120, key: 'FAILED', n: 4 },
      ],
    )
    assert.deepEqual(filled, [
      { start: 0, counts: { SUCCESS: 0, FAILED: 0 } },
      { start: 60, counts: { SUCCESS: 2, FAILED: 1 } },
      { start: 120, counts: { SUCCESS: 0, FAILED: 4 } },
    ])
  })

  it('fillBuckets: no rows, all zero; rows outside the range or of unknown keys are errors', () => {
    assert.deepEqual(fillBuckets([0], ['a'], []), [{ start: 0, counts: { a: 0 } }])
    assert.throws(() => fillBuckets([0], ['a'], [{ bucket: 60, key: 'a', n: 1 }]), RangeError)
    assert.throws(() => fillBuckets([0], ['a'], [{ bucket: 0, key: 'b' as 'a', n: 1 }]), RangeError)
  })
})
