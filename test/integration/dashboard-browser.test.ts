// The dashboard in a real headless Chromium (Debian's `chromium` package, driven by
// playwright-core; no browser download) over the seeded data set of
// test/support/dashboard-seed.ts: every chart and table shows the seeded numbers, the time
// range switches, "my results" opens with a key and refuses a wrong one, the charts show when
// the campaign status fails. Screenshots go to a
// temporary folder, or to docs/img/ with PUNCHR_UPDATE_SCREENSHOTS=1 (so that test runs do
// not rewrite the committed pictures).
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import type { Database } from '../../src/db/database.js'
import { launchChromium, openPage, reload } from '../support/browser.js'
import { type DashboardSeed, seedDashboard } from '../support/dashboard-seed.js'
import { openTestDatabase } from '../support/databases.js'
import { startTestServer, type TestServer } from '../support/server.js'

const SCREENSHOTS =
  process.env.PUNCHR_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../docs/img/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'punchr-screenshots-'))

/** The "Numbers" table under a chart, as text cells. */
function numbers(page: Page, chart: string): Promise<string[][]> {
  return page.$$eval(`[data-chart="${chart}"] details table tbody tr`, (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  )
}

/** What Chart.js holds for a chart: labels, the values of each dataset and their colours. */
function chartData(
  page: Page,
  chart: string,
): Promise<{ labels: string[]; datasets: Record<string, unknown[]>; colours: Record<string, unknown> }> {
  return page.$eval(`[data-chart="${chart}"] canvas`, (canvas) => {
    const instance = (
      globalThis as unknown as {
        Chart: {
          getChart(c: unknown): {
            data: {
              labels?: string[]
              datasets: { label: string; data: unknown[]; backgroundColor?: unknown }[]
            }
          }
        }
      }
    ).Chart.getChart(canvas)
    return {
      labels: instance.data.labels ?? [],
      datasets: Object.fromEntries(instance.data.datasets.map((d) => [d.label, d.data])),
      colours: Object.fromEntries(instance.data.datasets.map((d) => [d.label, d.backgroundColor])),
    }
  })
}

/** The first cells of a chart's "Numbers" table that are marked as normalised, with their tooltips. */
function normalisedCells(page: Page, chart: string): Promise<[string, string][]> {
  return page.$$eval(`[data-chart="${chart}"] details tbody td .normalised`, (spans) =>
    spans.map((s) => [s.textContent ?? '', s.getAttribute('title') ?? ''] as [string, string]),
  )
}

const field = (page: Page, name: string) => page.textContent(`[data-field="${name}"]`)

describe('dashboard in headless Chromium', () => {
  let db: Database
  let t: TestServer
  let seed: DashboardSeed
  let browser: Browser
  let page: Page
  /** Script errors and console errors (a failed asset load, say) of the page. */
  const problems: string[] = []

  before(async () => {
    browser = await launchChromium()
    db = await openTestDatabase('pglite')
    seed = await seedDashboard(db)
    t = await startTestServer(db)
    // The wrong-key case makes the browser log its 401 on purpose.
    page = await openPage(browser, problems, /status of 401/)
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
    await db?.close()
    if (process.env.PUNCHR_UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true })
  })

  it('loads with the last 7 days: summary and health tiles', async () => {
    assert.equal(await reload(page, () => page.goto(`${t.httpUrl}/`)), 'ready')
    assert.equal(await field(page, 'results'), '10')
    assert.equal(await field(page, 'success-rate'), '62.5 % (5/8)')
    assert.equal(await field(page, 'success-interval'), '30.6 % – 86.3 %')
    assert.equal(await field(page, 'first-attempt'), '60.0 % (3/5)')
    assert.equal(await field(page, 'clients'), '3')
    assert.equal(await field(page, 'remotes'), '4')
    assert.equal(await field(page, 'results-per-minute'), '0.4')
    assert.equal(await field(page, 'active-hosts'), '2')
    assert.equal(await field(page, 'active-keys'), '1 API key')
    assert.equal(await field(page, 'honeypot-peers'), '2')
    assert.equal(await field(page, 'candidates'), '2')
    assert.equal(await page.inputValue('#range select[name="preset"]'), '7d')
  })

  it('every chart is drawn, with the seeded numbers beneath it', async () => {
    const charts = await page.$$eval('[data-chart]', (cards) =>
      cards.map((c) => [c.getAttribute('data-chart'), Number(c.getAttribute('data-points'))]),
    )
    assert.equal(charts.length, 16)
    for (const [name, points] of charts) assert.ok((points as number) > 0, `${name} drew nothing`)

    const rate = (rows: string[][]) => rows.map((r) => r.slice(0, 5))
    assert.deepEqual(rate(await numbers(page, 'transport')), [
      ['tcp', '4', '1', '3', '25.0 %'],
      ['unfiltered', '4', '2', '0', '100.0 %'],
      ['quic', '2', '2', '0', '100.0 %'],
    ])
    assert.deepEqual((await chartData(page, 'transport')).datasets['success rate'], [0.25, 1, 1])
    assert.deepEqual(rate(await numbers(page, 'ip-version')), [
      ['ip4', '4', '2', '2', '50.0 %'],
      ['unfiltered', '4', '2', '0', '100.0 %'],
      ['ip6', '2', '1', '1', '50.0 %'],
    ])
    assert.deepEqual(rate(await numbers(page, 'agent')), [
      ['kubo/0.25.0', '4', '4', '0', '100.0 %'],
      ['kubo/0.24.0', '3', '1', '2', '33.3 %'],
      ['go-libp2p/0.33.0', '2', '0', '1', '0.0 %'],
      ['unknown', '1', '0', '0', '–'],
    ])
    assert.deepEqual((await numbers(page, 'agent'))[3]![5], 'no SUCCESS or FAILED results')
    assert.deepEqual(rate(await numbers(page, 'client-country')), [
      ['DE', '4', '3', '1', '75.0 %'],
      ['US', '3', '1', '1', '50.0 %'],
      ['unknown', '3', '1', '1', '50.0 %'],
    ])
    assert.deepEqual(
      (await numbers(page, 'remote-country')).map((r) => r[0]),
      ['FR', 'DE', 'US', 'unknown'],
    )
    assert.deepEqual(
      (await numbers(page, 'client-asn')).map((r) => r[0]),
      ['AS3320', 'AS7922', 'unknown'],
    )
    assert.deepEqual(
      (await numbers(page, 'remote-asn')).map((r) => r[0]),
      ['AS12322', 'AS3320', 'AS7922', 'unknown'],
    )

    // By client implementation, with readable names; the results whose old-client quirks were
    // normalised have rows of their own, marked in the table and drawn in another colour.
    assert.deepEqual(rate(await numbers(page, 'client-implementation')), [
      ['punchr (TypeScript)', '4', '3', '1', '75.0 %'],
      ['Rust client — quirks normalised', '2', '1', '1', '50.0 %'],
      ['Go client', '2', '0', '1', '0.0 %'],
      ['Go client — quirks normalised', '1', '1', '0', '100.0 %'],
      ['Rust client', '1', '0', '0', '–'],
    ])
    // Our client's results by the NAT mapping it classified; the others' are "not reported".
    const natRows = await numbers(page, 'client-nat-mapping')
    const resultsOf = (rows: string[][], key: string) => Number(rows.find((r) => r[0] === key)?.[1] ?? 0)
    assert.equal(resultsOf(natRows, 'not reported'), 6)
    assert.equal(
      natRows.filter((r) => r[0] !== 'not reported').reduce((sum, r) => sum + Number(r[1]), 0),
      4,
    )
    assert.ok(
      natRows.every((r) =>
        ['endpoint-independent', 'address-and-port-dependent', 'unknown', 'not reported'].includes(r[0]!),
      ),
    )
    const mappingRows = await numbers(page, 'client-port-mapping')
    assert.deepEqual(mappingRows.map((r) => r[0]).sort(), ['mapped', 'none'])
    assert.equal(resultsOf(mappingRows, 'mapped') + resultsOf(mappingRows, 'none'), 10)
    const marked = await normalisedCells(page, 'client-implementation')
    assert.deepEqual(
      marked.map(([text]) => text),
      ['Rust client — quirks normalised', 'Go client — quirks normalised'],
    )
    for (const [, why] of marked)
      assert.match(why, /old punchr client.*quirks.*corrected before storing.*excluded/)
    const impl = await chartData(page, 'client-implementation')
    assert.deepEqual(impl.labels, [
      'punchr (TypeScript)',
      'Rust client — quirks normalised',
      'Go client',
      'Go client — quirks normalised',
      'Rust client',
    ])
    assert.deepEqual(impl.datasets['success rate'], [0.75, 0.5, 0, 1, null])
    const colours = impl.colours['success rate'] as string[]
    assert.deepEqual(
      colours.map((c) => c === colours[0]),
      [true, false, true, false, true],
      'normalised bars in their own colour',
    )
    assert.ok(await page.isVisible('[data-chart="client-implementation"] .note'), 'the note is shown')
    assert.match(
      (await page.textContent('[data-chart="client-implementation"] .note')) ?? '',
      /— quirks normalised.*old punchr client.*corrected before storing/s,
    )
    // Other breakdowns mark nothing.
    assert.deepEqual(await normalisedCells(page, 'agent'), [])

    assert.deepEqual(
      (await numbers(page, 'final-connections')).map((r) => r.slice(0, 3)),
      [
        ['tcp/ip4', '3', '60.0 %'],
        ['quic-v1/ip4', '1', '20.0 %'],
        ['quic-v1/ip6', '1', '20.0 %'],
      ],
    )
    assert.deepEqual(
      (await numbers(page, 'success-attempts')).map((r) => r.slice(0, 3)),
      [
        ['1', '3', '60.0 %'],
        ['2', '1', '20.0 %'],
        ['3', '1', '20.0 %'],
      ],
    )
    assert.deepEqual(await numbers(page, 'start-rtt'), [
      ['SUCCESS', '4', '45.0 ms'],
      ['FAILED', '7', '100.0 ms'],
    ])
    const cdf = await chartData(page, 'start-rtt')
    assert.deepEqual(Object.keys(cdf.datasets), ['SUCCESS (n=4)', 'FAILED (n=7)'])
    assert.deepEqual((cdf.datasets['SUCCESS (n=4)'] as { y: number }[]).at(-1)!.y, 1)
    assert.deepEqual(await numbers(page, 'latency'), [
      ['TO_RELAY', '2', '17.5 ms'],
      ['TO_REMOTE_THROUGH_RELAY', '3', '110.0 ms'],
      ['TO_REMOTE_AFTER_HOLE_PUNCH', '2', '52.5 ms'],
    ])

    // Over time: hourly buckets of the week; their counts add up to the totals.
    const sum = (rows: string[][], column: number) => rows.reduce((a, r) => a + Number(r[column]), 0)
    const overTime = await numbers(page, 'success-rate')
    assert.deepEqual([sum(overTime, 1), sum(overTime, 2)], [5, 3])
    const mix = await chartData(page, 'outcomes')
    assert.deepEqual(Object.keys(mix.datasets).sort(), ['FAILED', 'NO_CONNECTION', 'NO_STREAM', 'SUCCESS'])
    const drawn = Object.values(mix.datasets).flat() as number[]
    assert.equal(
      drawn.reduce((a, n) => a + n, 0),
      10,
    )
    assert.ok(mix.labels.length >= 168, `${mix.labels.length} hourly buckets`)
  })

  it('the latest results table lists the seeded results, newest first', async () => {
    const rows = await page.$$eval('#latest tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    assert.equal(rows.length, 10)
    assert.deepEqual(
      rows.map((r) => r[1]),
      seed.results.slice(0, 10).map((r) => r.outcome),
    )
    assert.deepEqual(rows[0]!.slice(1, 6), ['SUCCESS', '1', '1', 'tcp/ip4', '9.00 s'])
    assert.deepEqual(rows[0]!.slice(7), ['kubo/0.25.0', 'DE', 'FR', 'punchr (TypeScript)'])
    // The reporting client, results with normalised quirks marked (#4 Go, #7 and #9 Rust).
    assert.deepEqual(
      rows.map((r) => r[10]),
      [
        'punchr (TypeScript)',
        'punchr (TypeScript)',
        'punchr (TypeScript)',
        'Go client — quirks normalised',
        'Go client',
        'Go client',
        'Rust client — quirks normalised',
        'Rust client',
        'Rust client — quirks normalised',
        'punchr (TypeScript)',
      ],
    )
    const marked = await page.$$eval('#latest tbody td .normalised', (spans) =>
      spans.map((s) => s.getAttribute('title') ?? ''),
    )
    assert.equal(marked.length, 3)
    assert.match(marked[0]!, /corrected before storing.*Normalised: go-attempt-opened-late\.$/)
  })

  it('switching the time range reloads every view', async () => {
    assert.equal(await reload(page, () => page.selectOption('#range select[name="preset"]', '1h')), 'ready')
    assert.match(page.url(), /\?range=1h$/)
    assert.equal(await field(page, 'results'), '10')
    assert.ok((await chartData(page, 'outcomes')).labels.length <= 61, 'minute buckets of one hour')
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png'), fullPage: true })

    assert.equal(await reload(page, () => page.selectOption('#range select[name="preset"]', '30d')), 'ready')
    assert.equal(await field(page, 'results'), '12')
    assert.equal(await field(page, 'success-rate'), '60.0 % (6/10)')

    // A custom range (UTC) around the two results of 10 days ago.
    const day = 86_400_000
    const local = (ms: number) => new Date(seed.now.getTime() - ms).toISOString().slice(0, 19)
    await page.selectOption('#range select[name="preset"]', 'custom')
    await page.fill('#range input[name="since"]', local(11 * day))
    await page.fill('#range input[name="until"]', local(9 * day))
    assert.equal(await reload(page, () => page.click('#range button[type="submit"]')), 'ready')
    assert.equal(await field(page, 'results'), '2')
    assert.equal(await field(page, 'success-rate'), '50.0 % (1/2)')
    assert.equal((await page.$$('#latest tbody tr')).length, 2)
  })

  it('"my results" opens with a key and shows only that key\'s results', async () => {
    await reload(page, () => page.goto(`${t.httpUrl}/?range=7d`))
    await page.click('#my-results-open')
    await page.fill('#key-form input[name="key"]', seed.keys.alice)
    assert.equal(await reload(page, () => page.click('#key-form button[type="submit"]')), 'ready')
    assert.equal(await page.textContent('#viewer-name'), 'alice')
    assert.match(page.url(), /#key=pk_/)
    assert.equal(await field(page, 'results'), '7')
    assert.equal(await field(page, 'success-rate'), '66.7 % (4/6)')
    assert.equal(await field(page, 'clients'), '2')
    assert.deepEqual(
      (await numbers(page, 'client-country')).map((r) => r[0]),
      ['DE', 'US'],
    )
    assert.deepEqual(
      (await numbers(page, 'client-implementation')).map((r) => r[0]),
      ['punchr (TypeScript)', 'Go client', 'Go client — quirks normalised'],
    )
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-my-results.png') })

    assert.equal(await reload(page, () => page.click('#viewer-leave')), 'ready')
    assert.doesNotMatch(page.url(), /key=/)
    assert.equal(await field(page, 'results'), '10')
  })

  it('a link with ?key= works and moves the key into the fragment, which no request carries', async () => {
    assert.equal(await reload(page, () => page.goto(`${t.httpUrl}/?key=${seed.keys.bob}`)), 'ready')
    assert.doesNotMatch(page.url(), /\?key=/)
    assert.match(page.url(), /#key=pk_/)
    assert.equal(await page.textContent('#viewer-name'), 'bob')
    assert.equal(await field(page, 'results'), '3')
  })

  it('a wrong key is refused with a clear message', async () => {
    assert.equal(await reload(page, () => page.goto(`${t.httpUrl}/#key=pk_wrong`)), 'error')
    assert.equal(await page.textContent('#status'), 'This API key does not work: unknown API key.')
    // The numbers of the view before (bob's) are not left standing under the message.
    for (const section of ['#summary', '#health', '.grid', '#latest'])
      assert.equal(await page.isVisible(section), false, `${section} is hidden`)
  })

  it('when the campaign status fails the charts still show, without the honeypot line', async () => {
    // A throw-away copy of the seeded campaign whose /api/campaign-status fails for real: the
    // heartbeats table, which no other endpoint reads, is gone.
    const broken = await openTestDatabase('pglite')
    const brokenSeed = await seedDashboard(broken)
    await broken.exec('DROP TABLE honeypot_heartbeats')
    const server = await startTestServer(broken)
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' })
    const messages: string[] = []
    other.on('pageerror', (err) => messages.push(`pageerror: ${err.message}`))
    other.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        messages.push(`${message.type()}: ${message.text()}`)
    })
    try {
      assert.equal((await fetch(`${server.httpUrl}/api/campaign-status`)).status, 500)
      for (const [where, results] of [
        ['/', '10'],
        [`/#key=${brokenSeed.keys.alice}`, '7'],
      ] as const) {
        await other.goto(`${server.httpUrl}${where}`)
        await other.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 15_000 })
        assert.equal(await other.getAttribute('body', 'data-state'), 'ready', where)
        assert.equal(await other.getAttribute('body', 'data-view'), 'results', where)
        assert.equal(await other.isVisible('#campaign'), false, 'no checklist')
        for (const section of ['#summary', '#health', '.grid', '#latest'])
          assert.ok(await other.isVisible(section), `${section} shows`)
        assert.equal(await field(other, 'results'), results, where)
        const drawn = await other.$$eval(
          '[data-chart]',
          (cards) => cards.filter((c) => Number(c.getAttribute('data-points')) > 0).length,
        )
        assert.equal(drawn, 16, 'every chart is drawn')
        assert.equal(await other.textContent('#honeypot-line'), '')
        assert.equal(await other.isVisible('#honeypot-line'), false)
      }
      // The browser's own note of the failed request and the page's warning, neither with the key.
      assert.ok(
        messages.some((m) => /^warning: campaign status unavailable \(HTTP 500\)/.test(m)),
        messages.join('\n'),
      )
      assert.deepEqual(
        messages.filter((m) => !/^warning: campaign status unavailable|status of 500/.test(m)),
        [],
      )
      assert.ok(!messages.some((m) => m.includes(brokenSeed.keys.alice)), 'no key in the console')
    } finally {
      await other.close()
      await server.stop()
      await broken.close()
    }
  })

  it('the page logged no errors', () => {
    assert.deepEqual(problems, [])
  })

  it('the screenshots are PNG pictures', () => {
    for (const name of ['dashboard.png', 'dashboard-my-results.png']) {
      const bytes = readFileSync(join(SCREENSHOTS, name))
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], name)
      assert.ok(bytes.length > 20_000, `${name}: ${bytes.length} bytes`)
    }
  })
})
