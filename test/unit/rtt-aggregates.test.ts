import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { rttAggregates } from '../../src/db/hole-punches.js'

type Aggregates = ReturnType<typeof rttAggregates>

const NULLS: Aggregates = { avg: null, min: null, max: null, std: null, count: 0 }

/** Compares numbers to 1e-12, nulls and counts exactly. */
function assertAggregates(actual: Aggregates, expected: Aggregates): void {
  assert.equal(actual.count, expected.count, 'count')
  for (const key of ['avg', 'min', 'max', 'std'] as const) {
    const a = actual[key]
    const e = expected[key]
    if (e === null || a === null) assert.equal(a, e, key)
    else assert.ok(Math.abs(a - e) < 1e-12, `${key}: ${a} ≠ ${e}`)
  }
}

describe('rttAggregates', () => {
  const cases: [string, number[], string[], Aggregates][] = [
    ['no pings', [], [], NULLS],
    ['one ping', [0.05], [''], { avg: 0.05, min: 0.05, max: 0.05, std: 0, count: 1 }],
    [
      'all pings ok',
      [0.1, 0.2, 0.3, 0.4],
      ['', '', '', ''],
      // Population std: sqrt(((.15)² + (.05)² + (.05)² + (.15)²) / 4) = sqrt(0.0125)
      { avg: 0.25, min: 0.1, max: 0.4, std: Math.sqrt(0.0125), count: 4 },
    ],
    [
      'failed pings are excluded, whatever their RTT',
      [0.1, -1, 0.3, 9.9],
      ['', 'timeout', '', 'stream reset'],
      { avg: 0.2, min: 0.1, max: 0.3, std: 0.1, count: 2 },
    ],
    [
      'a -1 sentinel marked failed (as validate.ts normalises legacy reports) is excluded',
      [0.02, -1, 0.04],
      ['', 'ping failed (negative RTT sentinel)', ''],
      { avg: 0.03, min: 0.02, max: 0.04, std: 0.01, count: 2 },
    ],
    ['all pings failed', [-1, -1, -1], ['a', 'b', 'c'], NULLS],
    ['all pings failed with real RTTs', [0.5, 0.6], ['timeout', 'timeout'], NULLS],
    ['missing rtt_errs count as ok', [0.1, 0.3], [], { avg: 0.2, min: 0.1, max: 0.3, std: 0.1, count: 2 }],
    [
      'equal RTTs have std 0',
      [0.07, 0.07, 0.07],
      ['', '', ''],
      { avg: 0.07, min: 0.07, max: 0.07, std: 0, count: 3 },
    ],
    [
      'population, not sample, std',
      [1, 2, 3, 4, 5],
      ['', '', '', '', ''],
      // Sample std would be sqrt(2.5) ≈ 1.58.
      { avg: 3, min: 1, max: 5, std: Math.sqrt(2), count: 5 },
    ],
  ]
  for (const [name, rtts, errs, expected] of cases) {
    it(name, () => assertAggregates(rttAggregates(rtts, errs), expected))
  }

  it('does not modify its inputs', () => {
    const rtts = [0.3, 0.1, 0.2]
    const errs = ['', 'x', '']
    rttAggregates(rtts, errs)
    assert.deepEqual(rtts, [0.3, 0.1, 0.2])
    assert.deepEqual(errs, ['', 'x', ''])
  })

  it('handles the largest measurement a report may carry', () => {
    const rtts = Array.from({ length: 100 }, (_, i) => (i + 1) / 1000)
    const agg = rttAggregates(
      rtts,
      rtts.map(() => ''),
    )
    assert.equal(agg.count, 100)
    assert.ok(Math.abs(agg.avg! - 0.0505) < 1e-12)
    assert.equal(agg.min, 0.001)
    assert.equal(agg.max, 0.1)
  })
})
