import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { QueryParams } from '../../src/dashboard/params.js'
import { InvalidParameterError, parseTime, parseTimeRange } from '../../src/dashboard/time-range.js'

const NOW = new Date('2026-11-25T12:00:00.000Z')

describe('parseTime', () => {
  const good: [string, string][] = [
    ['now', '2026-11-25T12:00:00.000Z'],
    ['30m', '2026-11-25T11:30:00.000Z'],
    ['24h', '2026-11-24T12:00:00.000Z'],
    ['7d', '2026-11-18T12:00:00.000Z'],
    ['2w', '2026-11-11T12:00:00.000Z'],
    ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01T08:30', '2026-11-01T08:30:00.000Z'],
    ['2026-11-01T08:30:15', '2026-11-01T08:30:15.000Z'],
    ['2026-11-01 08:30:15.250Z', '2026-11-01T08:30:15.250Z'],
    ['2026-11-01T08:30:00+02:00', '2026-11-01T06:30:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
  ]
  for (const [text, iso] of good) {
    it(`${text} → ${iso} (a time without zone is UTC)`, () => {
      assert.equal(parseTime(text, 'since', NOW).toISOString(), iso)
    })
  }
  for (const text of [
    '',
    'yesterday',
    '1',
    '7',
    '7 d',
    '-7d',
    '2026-13-01',
    '2026-02-30',
    '2025-02-29',
    '2026-11-01T25:00',
    '2026-11-01T10:61',
    'March 7',
  ]) {
    it(`rejects ${JSON.stringify(text)} naming the parameter`, () => {
      assert.throws(
        () => parseTime(text, 'until', NOW),
        (err: unknown) => err instanceof InvalidParameterError && err.message.startsWith('until: '),
      )
    })
  }
})

describe('parseTimeRange', () => {
  it('defaults: until now, since a week before until', () => {
    assert.deepEqual(parseTimeRange(undefined, undefined, NOW), {
      since: new Date('2026-11-18T12:00:00.000Z'),
      until: NOW,
    })
    assert.deepEqual(parseTimeRange(undefined, '2026-11-10', NOW).since, new Date('2026-11-03T00:00:00.000Z'))
  })

  it('since must be before until', () => {
    assert.throws(() => parseTimeRange('1h', '2h', NOW), /must be before until/)
    assert.throws(() => parseTimeRange('now', undefined, NOW), /must be before until/)
  })
})

describe('QueryParams', () => {
  const params = (query: string, allowed: string[]) => new QueryParams(new URLSearchParams(query), allowed)

  it('unknown and repeated parameters are errors', () => {
    assert.throws(() => params('x=1', ['since']), /unknown parameter "x" \(known: since\)/)
    assert.throws(() => params('x=1', []), /this endpoint takes none/)
    assert.throws(() => params('since=1h&since=2h', ['since']), /given more than once/)
  })

  it('limit: a whole number in range, or the fallback', () => {
    assert.equal(params('', ['limit']).limit(15, 100), 15)
    assert.equal(params('limit=100', ['limit']).limit(15, 100), 100)
    for (const bad of ['0', '101', '-1', '1.5', 'ten', '']) {
      assert.throws(() => params(`limit=${bad}`, ['limit']).limit(15, 100), InvalidParameterError, bad)
    }
  })

  it('choice: required, one of the list', () => {
    assert.equal(params('by=agent', ['by']).choice('by', ['agent', 'transport']), 'agent')
    assert.throws(() => params('', ['by']).choice('by', ['agent']), /by is required \(one of agent\)/)
    assert.throws(() => params('by=Agent', ['by']).choice('by', ['agent']), /"Agent" is not one of agent/)
  })

  it('range reads since and until', () => {
    const range = params('since=2026-11-01&until=2026-11-02', ['since', 'until']).range(NOW)
    assert.deepEqual(range, {
      since: new Date('2026-11-01T00:00:00Z'),
      until: new Date('2026-11-02T00:00:00Z'),
    })
  })
})
