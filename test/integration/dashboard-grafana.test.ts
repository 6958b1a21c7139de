// Every SQL panel of grafana/punchr-postgres.json runs against a migrated, seeded database
// with Grafana's macros expanded as Grafana's PostgreSQL datasource expands them, so that
// the dashboard cannot drift from the schema (the original's panels queried columns that
// no longer existed). A few panels are also checked against the seeded numbers.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { before, it } from 'node:test'
import { proportion } from '../../src/dashboard/statistics.js'
import { type DashboardSeed, seedDashboard } from '../support/dashboard-seed.js'
import { describeEachDatabase } from '../support/databases.js'

interface Panel {
  title: string
  targets?: { rawSql?: string }[]
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../../grafana/punchr-postgres.json', import.meta.url), 'utf8'),
) as { panels: Panel[] }

/**
 * Grafana's PostgreSQL macros for a time range and an interval (seconds): $__timeFilter(c)
 * → c BETWEEN 'from' AND 'to'; $__timeGroupAlias(c, $__interval) → floor(extract(epoch
 * from c)/n)*n AS "time"; $__timeFrom() / $__timeTo() → the quoted bounds. A macro or
 * variable left over fails the test: Grafana would send it to the database as it is.
 */
export function expandMacros(sql: string, from: Date, to: Date, intervalSeconds: number): string {
  const quoted = (d: Date) => `'${d.toISOString()}'`
  const expanded = sql
    .replaceAll('$__interval', `${intervalSeconds}s`)
    .replace(/\$__timeGroupAlias\(([^,]+),\s*(\d+)s\)/g, (_, c: string, n: string) => {
      return `floor(extract(epoch from ${c.trim()})/${n})*${n} AS "time"`
    })
    .replace(
      /\$__timeFilter\(([^)]+)\)/g,
      (_, c: string) => `${c.trim()} BETWEEN ${quoted(from)} AND ${quoted(to)}`,
    )
    .replaceAll('$__timeFrom()', quoted(from))
    .replaceAll('$__timeTo()', quoted(to))
  const left = /\$[_a-zA-Z{]\S*/.exec(expanded)
  if (left !== null) throw new Error(`unexpanded Grafana macro or variable ${left[0]}`)
  return expanded
}

const sqlPanels = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ title: p.title, sql: t.rawSql! })),
)

it('the PostgreSQL dashboard has SQL panels, each with SQL', () => {
  assert.ok(sqlPanels.length >= 15, `${sqlPanels.length} panels`)
  for (const p of sqlPanels) assert.ok(p.sql.trim().length > 0, p.title)
})

describeEachDatabase('grafana SQL panels', (getDb) => {
  let seed: DashboardSeed
  let rows: Map<string, Record<string, unknown>[]>

  before(async () => {
    seed = await seedDashboard(getDb())
    rows = new Map()
    const from = new Date(seed.now.getTime() - 7 * 86_400_000)
    const to = new Date(seed.now.getTime() + 1000)
    for (const p of sqlPanels) rows.set(p.title, await getDb().query(expandMacros(p.sql, from, to, 300)))
  })

  it('every panel query runs and returns rows on the seeded data', () => {
    for (const p of sqlPanels) assert.ok(rows.get(p.title)!.length > 0, `${p.title}: no rows`)
  })

  const one = (title: string) => {
    const found = rows.get(title)
    assert.ok(found !== undefined, `no panel "${title}"`)
    return found
  }

  it('the stat panels show the seeded totals', () => {
    assert.equal(Number(one('Results')[0]!.results), 10)
    assert.equal(one('Success rate')[0]!['success rate'], 0.625)
    assert.equal(one('Successes on the first attempt')[0]!['first attempt'], 0.6)
    assert.equal(Number(one('Honeypot peers (last 10 min)')[0]!.peers), 2)
  })

  it('the transport table agrees with the dashboard, interval included', () => {
    const table = one('Success rate by transport (protocol filter)').map((r) => [
      r.transport,
      Number(r.results),
      r.SUCCESS,
      r.FAILED,
    ])
    assert.deepEqual(table, [
      ['tcp', 4, 1, 3],
      ['unfiltered', 4, 2, 0],
      ['quic', 2, 2, 0],
    ])
    const tcp = one('Success rate by transport (protocol filter)')[0]!
    const expected = proportion(1, 4)
    assert.ok(Math.abs((tcp['95 % low'] as number) - expected.low!) < 1e-12)
    assert.ok(Math.abs((tcp['95 % high'] as number) - expected.high!) < 1e-12)
  })

  it('the client implementation table keeps the normalised results apart, as the dashboard does', () => {
    assert.deepEqual(
      one('Success rate by client implementation').map((r) => [
        r['client implementation'],
        Number(r.results),
        r.SUCCESS,
        r.FAILED,
      ]),
      [
        ['punchr-ts', 4, 3, 1],
        ['punchr-rust (normalised)', 2, 1, 1],
        ['punchr-go', 2, 0, 1],
        ['punchr-go (normalised)', 1, 1, 0],
        ['punchr-rust', 1, 0, 0],
      ],
    )
  })

  it('the geo tables use the listen and punched addresses, not the relay', () => {
    assert.deepEqual(
      one('Success rate by remote country').map((r) => r['remote country']),
      ['FR', 'DE', 'US', 'unknown'],
    )
    assert.deepEqual(
      one('Success rate by client ASN').map((r) => r['client ASN']),
      ['AS3320', 'AS7922', 'unknown'],
    )
  })

  it('the success rate over time has the interval around the rate', () => {
    for (const r of one('Success rate over time (95 % Wilson interval)')) {
      const [low, rate, high] = [r['95 % low'], r['success rate'], r['95 % high']] as number[]
      // 1e-12: floating point at a rate of exactly 0 or 1.
      assert.ok(low! <= rate! + 1e-12 && rate! <= high! + 1e-12, JSON.stringify(r))
    }
  })
})

it('expandMacros leaves nothing for the database to trip over', () => {
  const from = new Date('2026-11-01T00:00:00Z')
  const to = new Date('2026-11-02T00:00:00Z')
  assert.equal(
    expandMacros(
      'SELECT $__timeGroupAlias(t, $__interval) WHERE $__timeFilter(t) AND x < $__timeTo()',
      from,
      to,
      60,
    ),
    `SELECT floor(extract(epoch from t)/60)*60 AS "time" WHERE t BETWEEN '2026-11-01T00:00:00.000Z' AND '2026-11-02T00:00:00.000Z' AND x < '2026-11-02T00:00:00.000Z'`,
  )
  assert.throws(() => expandMacros('SELECT $__unixEpochFilter(t)', from, to, 60), /unexpanded Grafana macro/)
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a template
  assert.throws(() => expandMacros('SELECT ${var}', from, to, 60), /unexpanded/)
})
