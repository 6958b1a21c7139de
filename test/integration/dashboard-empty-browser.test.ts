// A new server's dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core,
// as in dashboard-browser.test.ts): with no result stored the page shows the new campaign's
// checklist — how to issue a key, the honeypot's state, the volunteer's commands with this
// server's address — instead of empty charts; once a key exists and a client reported a
// result, it shows the charts. The screenshot goes to a temporary folder, or to docs/img/
// with PUNCHR_UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import type { Database } from '../../src/db/database.js'
import { VERSION } from '../../src/lib/version.js'
import { launchChromium, openPage, reload } from '../support/browser.js'
import { openTestDatabase } from '../support/databases.js'
import { reportingHost, startTestServer, type TestServer } from '../support/server.js'

const SCREENSHOTS =
  process.env.PUNCHR_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../docs/img/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'punchr-screenshots-'))
/** The package version (this file runs as dist/test/integration/…). */

/** Each step of the checklist: [step, done, its state label]. */
function steps(page: Page): Promise<[string, string, string][]> {
  return page.$$eval('.checklist > li', (items) =>
    items.map(
      (li) =>
        [
          li.getAttribute('data-step') ?? '',
          li.getAttribute('data-done') ?? '',
          li.querySelector('.step-state')?.textContent ?? '',
        ] as [string, string, string],
    ),
  )
}

const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? ''

describe('a new server’s dashboard in headless Chromium', () => {
  let db: Database
  let t: TestServer
  let browser: Browser
  let page: Page
  const problems: string[] = []

  before(async () => {
    browser = await launchChromium()
    db = await openTestDatabase('pglite')
    t = await startTestServer(db)
    page = await openPage(browser, problems)
  })
  after(async () => {
    await browser?.close()
    await t?.stop()
    await db?.close()
    if (process.env.PUNCHR_UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true })
  })

  it('with no key and no result: the checklist with the commands and this server’s address, no charts', async () => {
    assert.equal(await reload(page, () => page.goto(`${t.httpUrl}/`)), 'ready')
    assert.equal(await page.getAttribute('body', 'data-view'), 'setup')
    assert.ok(await page.isVisible('#campaign'), 'the checklist shows')
    for (const section of ['#summary', '#health', '.grid', '#latest', '#range'])
      assert.equal(await page.isVisible(section), false, `${section} is hidden`)
    assert.deepEqual(await steps(page), [
      ['key', 'false', 'to do'],
      ['remotes', 'false', 'to do'],
      ['results', 'false', 'to do'],
    ])

    // Step 1: the key, for the embedded database (stop the server first), and the alternatives.
    assert.equal(
      await text(page, '[data-command="issue-key"]'),
      "punchr keys add --user <name> --data-dir <the server's --data-dir>",
    )
    assert.match(await text(page, '[data-text="key-how"]'), /stop the server \(Ctrl-C\)/)
    const alternatives = await text(page, '[data-text="key-alternatives"]')
    assert.match(alternatives, /DATABASE_URL=postgres:\/\//)
    assert.match(alternatives, /--open-registration/)

    // Step 2: no honeypot has written to this database yet.
    assert.match(await text(page, '[data-text="honeypot"]'), /No honeypot has written to this database/)
    assert.equal(await text(page, '[data-field="peers-recorded"]'), '0')
    assert.equal(await text(page, '[data-field="remotes-ready"]'), '0')
    // The eligibility window as the server sends it (remotes.windowSeconds: 600).
    assert.match(await text(page, '[data-text="remotes-how"]'), /within the last 10 minutes with a relay/)

    // Step 3: the volunteer's three commands, with the address the browser used and the gRPC port.
    const grpc = `127.0.0.1:${t.server.grpcPort}`
    assert.equal(
      await text(page, '[data-command="volunteer"]'),
      [`npm install -g punchr-${VERSION}.tgz`, 'punchr login <key>', `punchr client --server ${grpc}`].join(
        '\n',
      ),
    )
    assert.equal(await text(page, '[data-field="package"]'), `punchr-${VERSION}.tgz`)
    const address = await text(page, '[data-text="server-address"]')
    assert.match(address, new RegExp(`^${grpc.replace(/\./g, '\\.')} is the address your browser used`))
    assert.match(address, /must be able to reach it/)
    assert.match(address, /names this machine only/, 'a loopback address is called out')
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-new-campaign.png'), fullPage: true })
  })

  it('a key ticks step 1; the page still waits for results', async () => {
    await t.addKey('alice')
    assert.equal(await reload(page, () => page.reload()), 'ready')
    assert.equal(await page.getAttribute('body', 'data-view'), 'setup')
    assert.deepEqual(await steps(page), [
      ['key', 'true', 'done'],
      ['remotes', 'false', 'to do'],
      ['results', 'false', 'to do'],
    ])
    assert.doesNotMatch(await page.content(), /alice/, 'no user name on the page')
  })

  it('after a result: the charts instead of the checklist, with the honeypot line', async () => {
    const reporter = await reportingHost(db, t.server.grpcPort, 'bob')
    await reporter.client.trackHolePunch(reporter.report)
    assert.equal(await reload(page, () => page.reload()), 'ready')
    assert.equal(await page.getAttribute('body', 'data-view'), 'results')
    assert.equal(await page.isVisible('#campaign'), false, 'the checklist is gone')
    for (const section of ['#summary', '#health', '.grid', '#latest'])
      assert.ok(await page.isVisible(section), `${section} shows`)
    assert.equal(await text(page, '[data-field="results"]'), '1')
    const drawn = await page.$$eval('[data-chart]', (cards) =>
      cards.filter((c) => Number(c.getAttribute('data-points')) > 0).map((c) => c.getAttribute('data-chart')),
    )
    assert.ok(
      drawn.includes('success-rate') && drawn.includes('outcomes'),
      `charts drawn: ${drawn.join(', ')}`,
    )
    assert.match(
      await text(page, '#honeypot-line'),
      /^No honeypot has written to this database yet\..* 0 peers recorded \(0 in the last hour\), 0 remotes ready to hand out\.$/,
    )
  })

  it('the page logged no errors', () => {
    assert.deepEqual(problems, [])
  })
})
