import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import { openDatabase } from '../../src/db/database.js'
import { runCampaign } from '../../src/lab/campaign/campaign.js'
import { programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { loadScenario } from '../../src/lab/scenario-file.js'
import { explainFailure } from '../support/campaign-failure.js'
import { startTestServer } from '../support/server.js'

/**
 * The shipped scenario `dual-stack`: clients behind cone/firewall and symmetric/nat66-symmetric
 * homes and in an IPv6-only home against js, go and rust remotes (and a js remote in an
 * IPv6-only home), TCP and QUIC. Every stored round agrees with the ground truth of its IP
 * version; IPv6 rounds measure SUCCESS (firewall ↔ firewall, firewall ↔ nat66) and FAILED
 * (nat66-symmetric); the IPv6-only hosts measure and are measured, over IPv6 alone; no ip6 filter
 * is served to a client or for a remote that cannot use it; the dashboard, in a real browser,
 * shows the campaign's IPv6 rows.
 */

const CHROMIUM = process.env.PUNCHR_TEST_CHROMIUM ?? '/usr/bin/chromium'
const skip = labUnavailableReason() ?? (existsSync(programPath('remote')) ? false : 'build first: npx tsc')
const outDir = mkdtempSync(join(tmpdir(), 'punchr-dual-stack-'))
after(() => rmSync(outDir, { recursive: true, force: true }))

describe('lab: dual stack', { skip, timeout: 900_000 }, () => {
  it('IPv4 and IPv6 rounds agree with their ground truth, and the dashboard shows the IPv6 ones', async (t) => {
    const scenario = await loadScenario('dual-stack')
    const result = await runCampaign(scenario, {
      outDir,
      // The full campaign (docs/LAB.md) runs by hand.
      rounds: 12,
      retryPairAfterSeconds: 1,
      // Three hosts per client in rotation, as `punchr lab run` and production do (docs/LAB.md:
      // one host measuring a js remote back to back now and then loses a TCP round).
      clientHostCount: 3,
      // IPv6 mostly: the IPv4 rows are other campaigns' (lab-campaign.test.ts). Without ip4
      // filters a remote's first round is unfiltered (the server knows it over IPv4 only, from
      // the honeypot), whose punched IPv6 address opens the ip6 filters for it.
      filterShares: 'ip6+tcp=40,ip6+quic=40,none=20',
      env: { PUNCHR_LOG_LEVEL: 'info' },
    })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, explainFailure(result))

    const v6 = result.verdict.rounds.filter(({ round }) => round.ipVersion === 6)
    const v6Outcomes = new Set(v6.map(({ round }) => round.outcome))
    assert.ok(v6Outcomes.has('SUCCESS'), `an IPv6 round succeeded:\n${result.table}`)
    assert.ok(v6Outcomes.has('FAILED'), `an IPv6 round failed:\n${result.table}`)

    // The IPv6-only hosts: no round of theirs went over IPv4 (one that punched nothing tells no
    // version), and the client punched.
    const ipv6Only = result.verdict.rounds.filter(
      ({ round }) => round.client === 'client-6' || round.remote === 'js-6',
    )
    assert.ok(
      ipv6Only.some(({ round }) => round.remote === 'js-6'),
      `the IPv6-only remote was measured:\n${result.table}`,
    )
    assert.ok(
      ipv6Only.some(({ round }) => round.client === 'client-6' && round.outcome === 'SUCCESS'),
      `the IPv6-only client punched:\n${result.table}`,
    )
    for (const { round } of ipv6Only)
      assert.notEqual(round.ipVersion, 4, `round ${round.client} → ${round.remote}`)

    const db = await openDatabase({ dataDir: result.folder.database })
    try {
      // Every ip6 filter went to a client that announced IPv6, for a remote the server knew an
      // IPv6 address of (the remotes show relay addresses only: learnt from earlier rounds).
      const filtered = await db.query<{ agent_version: string; remote_versions: number[] | null }>(
        `SELECT cp.agent_version, rc.ip_versions AS remote_versions
         FROM hole_punch_results r
         JOIN clients c ON c.id = r.client_id JOIN peers cp ON cp.id = c.peer_id
         LEFT JOIN remote_candidates rc ON rc.peer_id = r.remote_id
         WHERE 41 = ANY(r.protocols)`,
      )
      assert.ok(filtered.length > 0, 'ip6 filters were served')
      for (const row of filtered) {
        assert.match(row.agent_version, / ip=(4,)?6\b/)
        assert.ok(row.remote_versions?.map(Number).includes(6), 'an ip6 filter for a remote with IPv6')
      }

      // The dashboard over the campaign's database, in Chromium: the IPv6 rows are there.
      const server = await startTestServer(db)
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      })
      try {
        const page = await browser.newPage()
        await page.goto(`${server.httpUrl}/`)
        await page.waitForSelector('body[data-state="ready"]', { timeout: 15_000 })
        const rows = (chart: string) =>
          page.$$eval(`[data-chart="${chart}"] details table tbody tr`, (trs) =>
            trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
          )
        const byFilter = await rows('ip-version')
        const ip6 = byFilter.find((r) => r[0] === 'ip6')
        assert.ok(ip6 !== undefined, `an ip6 row: ${JSON.stringify(byFilter)}`)
        assert.equal(Number(ip6[1]), filtered.length, 'the ip6 row counts the rounds with an ip6 filter')
        const final = (await rows('final-connections')).map((r) => r[0])
        assert.ok(
          final.some((label) => label?.endsWith('/ip6')),
          `a direct connection over IPv6: ${JSON.stringify(final)}`,
        )
      } finally {
        await browser.close()
        await server.stop()
      }
    } finally {
      await db.close()
    }
  })
})
