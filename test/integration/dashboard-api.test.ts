// Every JSON endpoint of the dashboard over HTTP on a real server, on the seeded data set of
// test/support/dashboard-seed.ts (its table says where each expected number comes from).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { revokeApiKey } from '../../src/db/authorizations.js'
import { CLIENT, type DashboardSeed, type SeededResult, seedDashboard } from '../support/dashboard-seed.js'
import { describeEachDatabase } from '../support/databases.js'
import { startTestServer, type TestServer } from '../support/server.js'

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
type Json = any

function near(actual: number | null, expected: number, what: string, epsilon = 1e-6): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < epsilon, `${what}: ${actual} ≠ ${expected}`)
}

/** Expected groups of a breakdown: [key, results, success, failed]. */
function assertGroups(groups: Json[], expected: [string, number, number, number][]): void {
  assert.deepEqual(
    groups.map((g) => [g.key, g.results, g.success, g.failed]),
    expected,
  )
  for (const g of groups) {
    assert.equal(g.successRate.successes, g.success)
    assert.equal(g.successRate.trials, g.success + g.failed)
  }
}

/**
 * The client-implementation groups of seeded results, as the seed's table gives them: the
 * host's implementation, with " (normalised)" where quirks were; [key, results, success, failed].
 */
function implementationGroups(results: readonly SeededResult[]): [string, number, number, number][] {
  const groups = new Map<string, [string, number, number, number]>()
  for (const r of results) {
    const key = `${CLIENT[r.host].implementation}${(r.quirks ?? []).length > 0 ? ' (normalised)' : ''}`
    const g = groups.get(key) ?? [key, 0, 0, 0]
    g[1]++
    if (r.outcome === 'SUCCESS') g[2]++
    if (r.outcome === 'FAILED') g[3]++
    groups.set(key, g)
  }
  return [...groups.values()].sort()
}

describeEachDatabase('dashboard JSON endpoints', (getDb) => {
  let t: TestServer
  let seed: DashboardSeed

  before(async () => {
    seed = await seedDashboard(getDb())
    t = await startTestServer(getDb())
  })
  after(() => t.stop())

  async function get(path: string, key?: string): Promise<{ status: number; body: Json; headers: Headers }> {
    const res = await fetch(`${t.httpUrl}${path}`, {
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    })
    return { status: res.status, body: await res.json(), headers: res.headers }
  }
  async function ok(path: string, key?: string): Promise<Json> {
    const res = await get(path, key)
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`)
    return res.body
  }

  describe('aggregates (the last 7 days by default)', () => {
    it('summary: counts per outcome, success rate with its interval, first-attempt share', async () => {
      const s = await ok('/api/summary')
      assert.equal(s.results, 10)
      assert.deepEqual(s.outcomes, {
        UNKNOWN: 0,
        NO_CONNECTION: 1,
        NO_STREAM: 1,
        CONNECTION_REVERSED: 0,
        CANCELLED: 0,
        FAILED: 3,
        SUCCESS: 5,
      })
      assert.equal(s.successRate.successes, 5)
      assert.equal(s.successRate.trials, 8)
      near(s.successRate.rate, 0.625, 'rate')
      // Wilson 95 % of 5/8.
      near(s.successRate.low, 0.3057424, 'low')
      near(s.successRate.high, 0.8631557, 'high')
      assert.deepEqual([s.firstAttempt.successes, s.firstAttempt.trials], [3, 5])
      assert.deepEqual([s.clients, s.remotes], [3, 4])
      const span = Date.parse(s.range.until) - Date.parse(s.range.since)
      assert.equal(span, 7 * 86_400_000)
    })

    it('breakdown by transport and IP version of the protocol filter', async () => {
      const transport = await ok('/api/breakdown?by=transport')
      assertGroups(transport.groups, [
        ['tcp', 4, 1, 3],
        ['unfiltered', 4, 2, 0],
        ['quic', 2, 2, 0],
      ])
      assert.equal(transport.other, null)
      const ip = await ok('/api/breakdown?by=ip-version')
      assertGroups(ip.groups, [
        ['ip4', 4, 2, 2],
        ['unfiltered', 4, 2, 0],
        ['ip6', 2, 1, 1],
      ])
    })

    it('breakdown by remote agent; beyond the limit the rest is one "other" group', async () => {
      const all = await ok('/api/breakdown?by=agent')
      assertGroups(all.groups, [
        ['kubo/0.25.0', 4, 4, 0],
        ['kubo/0.24.0', 3, 1, 2],
        ['go-libp2p/0.33.0', 2, 0, 1],
        ['unknown', 1, 0, 0],
      ])
      near(all.groups[0].successRate.low, 0.5101092, '4/4 low')
      assert.equal(all.groups[0].successRate.high, 1)
      assert.equal(all.groups[3].successRate.rate, null, 'no SUCCESS or FAILED: no rate')
      const top = await ok('/api/breakdown?by=agent&limit=2')
      assert.equal(top.groups.length, 2)
      assert.deepEqual(
        [top.other.key, top.other.results, top.other.success, top.other.failed, top.other.groups],
        ['other', 3, 0, 1, 2],
      )
    })

    it('breakdown by client and remote country/ASN (listen addrs; punched addrs, not the relay)', async () => {
      assertGroups((await ok('/api/breakdown?by=client-country')).groups, [
        ['DE', 4, 3, 1],
        ['US', 3, 1, 1],
        ['unknown', 3, 1, 1],
      ])
      assertGroups((await ok('/api/breakdown?by=client-asn')).groups, [
        ['AS3320', 4, 3, 1],
        ['AS7922', 3, 1, 1],
        ['unknown', 3, 1, 1],
      ])
      assertGroups((await ok('/api/breakdown?by=remote-country')).groups, [
        ['FR', 4, 4, 0],
        ['DE', 3, 1, 2],
        ['US', 1, 0, 1],
        ['unknown', 2, 0, 0],
      ])
      assertGroups((await ok('/api/breakdown?by=remote-asn')).groups, [
        ['AS12322', 4, 4, 0],
        ['AS3320', 3, 1, 2],
        ['AS7922', 1, 0, 1],
        ['unknown', 2, 0, 0],
      ])
    })

    it('breakdown by client implementation, results with normalised quirks apart', async () => {
      const impl = await ok('/api/breakdown?by=client-implementation')
      // Largest SUCCESS + FAILED first, then results, then the key.
      assertGroups(impl.groups, [
        ['punchr-ts', 4, 3, 1],
        ['punchr-rust (normalised)', 2, 1, 1],
        ['punchr-go', 2, 0, 1],
        ['punchr-go (normalised)', 1, 1, 0],
        ['punchr-rust', 1, 0, 0],
      ])
      assert.equal(impl.other, null)
      near(impl.groups[1].successRate.rate, 0.5, 'rust normalised 1/2')
      const week = seed.results.filter((r) => r.minutesAgo < 7 * 24 * 60)
      assert.deepEqual(
        impl.groups.map((g: Json) => [g.key, g.results, g.success, g.failed]).sort(),
        implementationGroups(week),
      )
      // 30 days: the two results of 10 days ago are our client's and the Rust client's, as sent.
      const month = await ok('/api/breakdown?by=client-implementation&since=30d')
      assertGroups(month.groups, [
        ['punchr-ts', 5, 4, 1],
        ['punchr-rust (normalised)', 2, 1, 1],
        ['punchr-go', 2, 0, 1],
        ['punchr-rust', 2, 0, 1],
        ['punchr-go (normalised)', 1, 1, 0],
      ])
      assert.deepEqual(
        month.groups.map((g: Json) => [g.key, g.results, g.success, g.failed]).sort(),
        implementationGroups(seed.results),
      )
    })

    it('final connections of successes and the attempt they succeeded on', async () => {
      const finals = await ok('/api/final-connections')
      assert.equal(finals.successes, 5)
      assert.deepEqual(
        finals.connections.map((c: Json) => [c.transport, c.ipVersion, c.successes, c.share.rate]),
        [
          ['tcp', 4, 3, 0.6],
          ['quic-v1', 4, 1, 0.2],
          ['quic-v1', 6, 1, 0.2],
        ],
      )
      const attempts = await ok('/api/success-attempts')
      assert.deepEqual(
        attempts.attempts.map((a: Json) => [a.attempt, a.successes]),
        [
          [1, 3],
          [2, 1],
          [3, 1],
        ],
      )
      assert.deepEqual([attempts.firstAttempt.successes, attempts.firstAttempt.trials], [3, 5])
    })

    it('start RTT of successful vs failed attempts: counts, medians, CDF', async () => {
      const { series } = await ok('/api/start-rtt')
      assert.deepEqual(
        series.map((s: Json) => [s.name, s.count]),
        [
          ['SUCCESS', 4],
          ['FAILED', 7],
        ],
      )
      near(series[0].median, 0.045, 'SUCCESS median')
      near(series[1].median, 0.1, 'FAILED median')
      const at = (s: Json, x: number) => s.cdf.find((p: Json) => p.x === x)?.p
      // SUCCESS .030 .040 .050 .060: three of four lie below the edge 0.0501.
      assert.equal(at(series[0], 0.0501), 0.75)
      assert.equal(series[0].cdf.at(-1).p, 1)
      assert.equal(series[0].cdf[0].p, 0)
      // FAILED .070 .080 .090 .100 .110 .120 .200: six of seven below 0.158.
      assert.equal(at(series[1], 0.158), 6 / 7)
    })

    it('relayed vs direct latency from successful pings only', async () => {
      const { series } = await ok('/api/latency')
      assert.deepEqual(
        series.map((s: Json) => [s.name, s.count]),
        [
          ['TO_RELAY', 2],
          ['TO_REMOTE_THROUGH_RELAY', 3],
          ['TO_REMOTE_AFTER_HOLE_PUNCH', 2],
        ],
      )
      near(series[0].median, 0.0175, 'relay')
      near(series[1].median, 0.11, 'through relay')
      near(series[2].median, 0.0525, 'direct')
    })

    it('latest results, newest first, without addresses or errors', async () => {
      const { results } = await ok('/api/latest')
      assert.deepEqual(
        results.map((r: Json) => r.id),
        seed.results.slice(0, 10).map((r) => r.id),
      )
      assert.deepEqual(results[0], {
        id: seed.results[0]!.id,
        createdAt: seed.results[0]!.createdAt.toISOString(),
        outcome: 'SUCCESS',
        attempts: 1,
        successAttempt: 1,
        durationSeconds: 9,
        finalTransport: 'tcp',
        finalIpVersion: 4,
        remotePeerId: seed.remotes.R1.id,
        remoteAgent: 'kubo/0.25.0',
        clientCountry: 'DE',
        remoteCountry: 'FR',
        clientImplementation: 'punchr-ts',
        quirks: [],
      })
      assert.equal(results[9].successAttempt, 3)
      assert.deepEqual(
        results.map((r: Json) => [r.clientImplementation, r.quirks]),
        seed.results.slice(0, 10).map((r) => [CLIENT[r.host].implementation, r.quirks ?? []]),
      )
      assert.deepEqual(results[3].quirks, ['go-attempt-opened-late'])
      const text = JSON.stringify(results)
      assert.doesNotMatch(text, /192\.168|11\.\d+\.0\.1|i\/o timeout/, 'no addresses, no error texts')
      assert.equal((await ok('/api/latest?limit=3')).results.length, 3)
    })

    it('live health: results, active hosts, honeypot peers, candidates', async () => {
      const h = await ok('/api/health')
      assert.equal(h.resultsLast10Minutes, 4)
      assert.deepEqual([h.activeHosts, h.activeKeys, h.honeypotPeers, h.candidates], [2, 1, 2, 2])
      assert.ok(h.resultsPerMinute.length >= 60 && h.resultsPerMinute.length <= 61)
      assert.equal(
        h.resultsPerMinute.reduce((a: number, m: Json) => a + m.results, 0),
        10,
      )
    })
  })

  describe('time ranges', () => {
    it('since=30d includes the results of 10 days ago', async () => {
      const s = await ok('/api/summary?since=30d')
      assert.equal(s.results, 12)
      assert.deepEqual([s.outcomes.SUCCESS, s.outcomes.FAILED], [6, 4])
    })

    it('an ISO range around 10 days ago holds only those two results', async () => {
      const day = 86_400_000
      const since = new Date(seed.now.getTime() - 11 * day).toISOString()
      const until = new Date(seed.now.getTime() - 9 * day).toISOString()
      const s = await ok(`/api/summary?since=${since}&until=${until}`)
      assert.equal(s.results, 2)
      assert.deepEqual([s.outcomes.SUCCESS, s.outcomes.FAILED], [1, 1])
      assert.deepEqual(s.range, { since, until })
      const latest = await ok(`/api/latest?since=${since}&until=${until}`)
      assert.deepEqual(
        latest.results.map((r: Json) => r.id),
        [seed.results[10]!.id, seed.results[11]!.id],
      )
    })

    it('the time series puts each result in its minute over the last hour', async () => {
      const series = await ok('/api/timeseries?since=1h')
      assert.equal(series.bucketSeconds, 60)
      const expected = new Map<string, { SUCCESS: number; FAILED: number; other: number }>()
      for (const r of seed.results.slice(0, 10)) {
        const start = new Date(Math.floor(r.createdAt.getTime() / 60_000) * 60_000).toISOString()
        const e = expected.get(start) ?? { SUCCESS: 0, FAILED: 0, other: 0 }
        if (r.outcome === 'SUCCESS' || r.outcome === 'FAILED') e[r.outcome]++
        else e.other++
        expected.set(start, e)
      }
      const seen = series.buckets.filter((b: Json) =>
        Object.values(b.outcomes).some((n) => (n as number) > 0),
      )
      assert.deepEqual(
        seen.map((b: Json) => [
          b.start,
          {
            SUCCESS: b.outcomes.SUCCESS,
            FAILED: b.outcomes.FAILED,
            other: b.outcomes.NO_STREAM + b.outcomes.NO_CONNECTION,
          },
        ]),
        [...expected].sort(([a], [b]) => a.localeCompare(b)),
      )
      for (const b of seen) assert.equal(b.successRate.trials, b.outcomes.SUCCESS + b.outcomes.FAILED)
      const empty = series.buckets.find((b: Json) => b.successRate.trials === 0)
      assert.equal(empty.successRate.rate, null)
    })

    it('the default week is cut into hours', async () => {
      const series = await ok('/api/timeseries')
      assert.equal(series.bucketSeconds, 3600)
      assert.ok(series.buckets.length >= 168 && series.buckets.length <= 169)
    })
  })

  describe('my results', () => {
    it("alice's key narrows every view to her hosts", async () => {
      const key = seed.keys.alice
      assert.deepEqual(await ok('/api/me', key), { username: 'alice', keyPrefix: key.slice(0, 9) })
      const s = await ok('/api/summary', key)
      assert.equal(s.results, 7)
      assert.deepEqual([s.outcomes.SUCCESS, s.outcomes.FAILED, s.outcomes.NO_STREAM, s.clients], [4, 2, 1, 2])
      assertGroups((await ok('/api/breakdown?by=client-country', key)).groups, [
        ['DE', 4, 3, 1],
        ['US', 3, 1, 1],
      ])
      // Her hosts run our client (A1) and the Go client (A2): no Rust results.
      assertGroups((await ok('/api/breakdown?by=client-implementation', key)).groups, [
        ['punchr-ts', 4, 3, 1],
        ['punchr-go', 2, 0, 1],
        ['punchr-go (normalised)', 1, 1, 0],
      ])
      assert.equal((await ok('/api/latest', key)).results.length, 7)
      const h = await ok('/api/health', key)
      assert.deepEqual([h.resultsLast10Minutes, h.activeHosts, h.activeKeys, h.honeypotPeers], [4, 2, 1, 2])
    })

    it("bob's key shows bob's results only", async () => {
      const key = seed.keys.bob
      const s = await ok('/api/summary?since=30d', key)
      assert.equal(s.results, 4)
      assert.deepEqual([s.outcomes.SUCCESS, s.outcomes.FAILED, s.outcomes.NO_CONNECTION], [1, 2, 1])
      const h = await ok('/api/health', key)
      assert.deepEqual([h.resultsLast10Minutes, h.activeHosts, h.activeKeys], [0, 0, 0])
    })

    it('an unknown key is 401, a malformed header 401, a revoked key 403; none is answered with data', async () => {
      const unknown = await get('/api/summary', 'pk_not-a-key')
      assert.equal(unknown.status, 401)
      assert.equal(unknown.body.error, 'unknown API key')
      assert.equal(unknown.headers.get('www-authenticate'), 'Bearer')
      const malformed = await fetch(`${t.httpUrl}/api/summary`, { headers: { authorization: 'Basic x' } })
      assert.equal(malformed.status, 401)
      const spare = await t.addKey('carol')
      await revokeApiKey(getDb(), spare)
      const revoked = await get('/api/summary', spare)
      assert.equal(revoked.status, 403)
      assert.deepEqual(revoked.body, { error: 'this API key was revoked' })
      assert.equal((await get('/api/me')).status, 401, '/api/me without a key')
    })

    it('there is no way to list keys', async () => {
      for (const path of ['/api/keys', '/api/authorizations', '/api/users']) {
        const res = await fetch(`${t.httpUrl}${path}`)
        assert.equal(res.status, 404, path)
      }
    })
  })

  describe('bad requests', () => {
    const cases: [string, number, RegExp][] = [
      ['/api/summary?since=yesterday', 400, /since: "yesterday" is not a time/],
      ['/api/summary?since=2026-02-30', 400, /since: "2026-02-30" is not a time/],
      ['/api/summary?since=1h&until=2h', 400, /must be before until/],
      ['/api/summary?sinse=1h', 400, /unknown parameter "sinse"/],
      ['/api/summary?since=1h&since=2h', 400, /since is given more than once/],
      ['/api/breakdown', 400, /by is required/],
      ['/api/breakdown?by=planet', 400, /by: "planet" is not one of transport/],
      ['/api/breakdown?by=agent&limit=0', 400, /limit: "0" is not a whole number from 1 to 100/],
      ['/api/latest?limit=201', 400, /from 1 to 200/],
      ['/api/health?since=1h', 400, /this endpoint takes none/],
    ]
    for (const [path, status, message] of cases) {
      it(`${path} → ${status}`, async () => {
        const res = await get(path)
        assert.equal(res.status, status)
        assert.match(res.body.error, message)
      })
    }

    it('POST is 405', async () => {
      const res = await fetch(`${t.httpUrl}/api/summary`, { method: 'POST' })
      assert.equal(res.status, 405)
      assert.equal(res.headers.get('allow'), 'GET, HEAD')
    })
  })

  describe('the page', () => {
    it('/ is the page, with a content security policy; its assets are served', async () => {
      const page = await fetch(`${t.httpUrl}/`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type')!, /^text\/html/)
      assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/)
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer')
      assert.match(await page.text(), /<script src="\/assets\/dashboard.js" type="module">/)
      for (const asset of ['/assets/dashboard.js', '/assets/dashboard.css', '/assets/chart.umd.min.js']) {
        const res = await fetch(`${t.httpUrl}${asset}`)
        assert.equal(res.status, 200, asset)
        assert.ok((await res.text()).length > 1000, `${asset} has content`)
      }
      assert.match(await (await fetch(`${t.httpUrl}/assets/chart.umd.min.js`)).text(), /Chart/)
    })

    it('/metrics and /healthz still answer, and unknown paths are 404', async () => {
      assert.equal((await fetch(`${t.httpUrl}/healthz`)).status, 200)
      assert.equal((await fetch(`${t.httpUrl}/metrics`)).status, 200)
      assert.equal((await fetch(`${t.httpUrl}/nope`)).status, 404)
    })
  })
})
