// The status page's HTTP side and links: the dashboard URL derived from --server, the "My
// results" link, the loopback Host check against DNS rebinding (on a real server on
// 127.0.0.1), the key-bearing link for our own user only (the check by peer uid on this very
// process's requests; another user stood in for by an injected check), and the headers that
// keep the page and its JSON out of caches and frames.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { ClientMetrics, type MetricsServer, serveMetrics } from '../../src/client/metrics.js'
import { ClientStatus } from '../../src/client/status.js'
import { isLoopbackHost, type OwnUserCheck } from '../../src/client/status-http.js'
import { DEFAULT_SERVER_HTTP_PORT, dashboardUrl, myResultsUrl } from '../../src/client/status-links.js'
import { ConfigError } from '../../src/lib/errors.js'
import { serverFlags } from '../../src/server/config.js'

describe('status links', () => {
  it("derives the dashboard from --server: same host, the server's HTTP port, https with --tls", () => {
    assert.equal(DEFAULT_SERVER_HTTP_PORT, serverFlags.httpPort.default, 'the server’s --http-port default')
    assert.equal(
      dashboardUrl(undefined, 'punchr.example.org:10000', false),
      'http://punchr.example.org:10001',
    )
    assert.equal(dashboardUrl(undefined, 'punchr.example.org:443', true), 'https://punchr.example.org:10001')
    assert.equal(dashboardUrl(undefined, '[2001:db8::1]:10000', false), 'http://[2001:db8::1]:10001')
    assert.equal(
      dashboardUrl(undefined, 'https://punchr.example.org:8443', false),
      'https://punchr.example.org:10001',
    )
  })

  it("takes a given URL, '' for none, and refuses what is not http(s)", () => {
    assert.equal(dashboardUrl('', 'x:1', false), null)
    assert.equal(
      dashboardUrl('https://stats.example.org/punchr/', 'x:1', false),
      'https://stats.example.org/punchr',
    )
    assert.equal(dashboardUrl('http://127.0.0.1:10001/?a=b#c', 'x:1', false), 'http://127.0.0.1:10001')
    assert.throws(() => dashboardUrl('ftp://x/', 'x:1', false), ConfigError)
    assert.throws(() => dashboardUrl('not a url', 'x:1', false), ConfigError)
    assert.throws(() => dashboardUrl('https://me:secret@x/', 'x:1', false), /user name or password/)
  })

  it('puts the key in the fragment only, encoded', () => {
    assert.equal(myResultsUrl('http://h:10001', 'pk_a-b_c'), 'http://h:10001/#key=pk_a-b_c')
    assert.equal(myResultsUrl('https://h/punchr', 'a&b=c#d'), 'https://h/punchr/#key=a%26b%3Dc%23d')
    assert.equal(myResultsUrl(null, 'pk_x'), null)
  })
})

describe('loopback Host check', () => {
  const cases: [string | undefined, boolean][] = [
    ['127.0.0.1:12001', true],
    ['127.0.0.1', true],
    ['127.1.2.3:80', true],
    ['localhost:12001', true],
    ['LOCALHOST', true],
    ['localhost.:12001', true],
    ['[::1]:12001', true],
    ['[0:0:0:0:0:0:0:1]', true],
    [undefined, false],
    ['', false],
    ['evil.example.com:12001', false],
    ['localhost.evil.example.com', false],
    ['127.0.0.1.nip.io:12001', false],
    ['10.0.0.1:12001', false],
    ['[::2]:12001', false],
    ['[::ffff:127.0.0.1]:12001', false],
    ['::1', false],
    ['127.0.0.1:12001 evil', false],
  ]
  for (const [host, loopback] of cases)
    it(`${JSON.stringify(host)} is ${loopback ? '' : 'not '}loopback`, () =>
      assert.equal(isLoopbackHost(host), loopback))
})

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function get(
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
  })
}

/** A client's status whose My results link carries the key pk_secret. */
const statusWithKey = () =>
  new ClientStatus({
    version: '9.9.9',
    server: '127.0.0.1:10000',
    dashboardUrl: 'http://127.0.0.1:10001',
    myResultsUrl: 'http://127.0.0.1:10001/#key=pk_secret',
    apiKeyFile: '/home/v/.config/punchr/api.key',
  })

describe('status page over HTTP', () => {
  let server: MetricsServer
  const status = statusWithKey()

  before(async () => {
    // The real check: these requests come from this process, so from our own user.
    server = await serveMetrics(new ClientMetrics(), '127.0.0.1', 0, () => status.snapshot())
  })
  after(() => server?.close())

  it('serves /status.json and the page to a loopback Host, never cached; our own user gets the link', async () => {
    const json = await get(server.port, '/status.json', `127.0.0.1:${server.port}`)
    assert.equal(json.status, 200)
    assert.match(json.headers['content-type'] ?? '', /^application\/json/)
    assert.equal(json.headers['cache-control'], 'no-store')
    const body = JSON.parse(json.body)
    assert.equal(body.version, '9.9.9')
    assert.equal(body.state, 'starting')
    assert.equal(body.myResultsUrl, 'http://127.0.0.1:10001/#key=pk_secret', 'a request of our own user')
    assert.equal(body.dashboardUrl, 'http://127.0.0.1:10001')
    assert.equal(body.apiKeyFile, '/home/v/.config/punchr/api.key')

    const page = await get(server.port, '/', `localhost:${server.port}`)
    assert.equal(page.status, 200)
    assert.match(page.headers['content-type'] ?? '', /^text\/html/)
    assert.equal(page.headers['cache-control'], 'no-store')
    assert.equal(page.headers['referrer-policy'], 'no-referrer')
    const csp = String(page.headers['content-security-policy'] ?? '')
    assert.match(csp, /default-src 'none'.*frame-ancestors 'none'/)
    assert.ok(!page.body.includes('pk_secret'), 'the page itself never carries the key')
    assert.doesNotMatch(page.body, /<(script|link|img)[^>]+(src|href)="https?:/, 'no external assets')
    // The inline script runs under the nonce the header allows.
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1]
    assert.ok(nonce !== undefined && page.body.includes(`<script nonce="${nonce}">`))
  })

  it('refuses a Host that is not loopback with 403 (DNS rebinding), on every path', async () => {
    for (const path of ['/', '/status.json', '/metrics', '/healthz']) {
      const res = await get(server.port, path, `rebind.example.com:${server.port}`)
      assert.equal(res.status, 403, path)
      assert.ok(!res.body.includes('pk_secret'))
    }
    assert.equal((await get(server.port, '/metrics', `127.0.0.1:${server.port}`)).status, 200)
    assert.equal((await get(server.port, '/nothing', `127.0.0.1:${server.port}`)).status, 404)
  })

  it('answers only GET and HEAD', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/status.json`, { method: 'POST' })
    assert.equal(res.status, 405)
  })
})

describe('status page for another user of the machine', () => {
  const status = statusWithKey()
  const servers: MetricsServer[] = []
  after(() => Promise.all(servers.map((s) => s.close())))

  /** A status server whose check of the requester's user says `check`. */
  const serveWith = async (check: OwnUserCheck) => {
    const server = await serveMetrics(new ClientMetrics(), '127.0.0.1', 0, () => status.snapshot(), check)
    servers.push(server)
    return server
  }

  for (const [name, check] of [
    ['another uid', async () => false],
    ['a check that fails (unknown)', async () => Promise.reject(new Error('no /proc'))],
  ] as [string, OwnUserCheck][])
    it(`${name}: /status.json without the key, the dashboard link and the key file stay`, async () => {
      const server = await serveWith(check)
      const res = await get(server.port, '/status.json', `127.0.0.1:${server.port}`)
      assert.equal(res.status, 200)
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.ok(!res.body.includes('pk_secret'), res.body)
      const body = JSON.parse(res.body)
      assert.equal(body.myResultsUrl, null)
      assert.equal(body.dashboardUrl, 'http://127.0.0.1:10001')
      assert.equal(body.apiKeyFile, '/home/v/.config/punchr/api.key')
      assert.equal(body.version, '9.9.9', 'the rest of the status is the same')
      const page = await get(server.port, '/', `127.0.0.1:${server.port}`)
      assert.equal(page.status, 200)
      assert.ok(!page.body.includes('pk_secret'))
      assert.match(page.body, /open <a data-field="dashboard"[^>]*>the dashboard<\/a> and enter your key/)
    })

  it('asks the check with the request, whose peer is this process', async () => {
    const seen: number[] = []
    const server = await serveWith(async (req) => {
      seen.push(req.socket.remotePort ?? -1)
      return true
    })
    const res = await get(server.port, '/status.json', `localhost:${server.port}`)
    assert.equal(JSON.parse(res.body).myResultsUrl, 'http://127.0.0.1:10001/#key=pk_secret')
    assert.equal(seen.length, 1)
    assert.ok(seen[0]! > 0)
    // HEAD has no body to leave the key out of, and asks nothing.
    const head = await fetch(`http://127.0.0.1:${server.port}/status.json`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(seen.length, 1)
  })
})

describe('client metrics on /metrics', () => {
  it("serves the client's counters, gauges and round-duration histogram in Prometheus' text format, then the process figures", async () => {
    const metrics = new ClientMetrics()
    const server = await serveMetrics(metrics, '127.0.0.1', 0)
    try {
      const before = await get(server.port, '/metrics', `127.0.0.1:${server.port}`)
      assert.equal(before.status, 200)
      assert.equal(before.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
      assert.match(before.body, /^punchr_client_no_remote_total 0$/m, 'an unlabelled counter shows 0')
      assert.doesNotMatch(before.body, /^punchr_client_rounds_total\{/m, 'no labelled value yet')

      metrics.rounds.inc({ outcome: 'SUCCESS' })
      metrics.rounds.inc({ outcome: 'SUCCESS' })
      metrics.rounds.inc({ outcome: 'FAILED' })
      metrics.refusedPunchTargets.inc({ reason: 'private' }, 3)
      metrics.apiErrors.inc({ call: 'GetAddrInfo', code: 'say "hi"\\now' })
      metrics.hostRests.inc(10)
      metrics.queueReports.set(4)
      metrics.roundDuration.observe(0.3)
      metrics.roundDuration.observe(7)
      metrics.roundDuration.observe(500)
      const { body } = await get(server.port, '/metrics', `127.0.0.1:${server.port}`)
      const lines = new Set(body.split('\n'))
      for (const line of [
        '# HELP punchr_client_rounds_total Measurement rounds finished, by overall outcome',
        '# TYPE punchr_client_rounds_total counter',
        'punchr_client_rounds_total{outcome="SUCCESS"} 2',
        'punchr_client_rounds_total{outcome="FAILED"} 1',
        'punchr_client_refused_punch_targets_total{reason="private"} 3',
        'punchr_client_api_errors_total{call="GetAddrInfo",code="say \\"hi\\"\\\\now"} 1',
        'punchr_client_host_rests_total 10',
        '# TYPE punchr_client_report_queue_reports gauge',
        'punchr_client_report_queue_reports 4',
        '# TYPE punchr_client_round_duration_seconds histogram',
        'punchr_client_round_duration_seconds_bucket{le="0.25"} 0',
        'punchr_client_round_duration_seconds_bucket{le="0.5"} 1',
        'punchr_client_round_duration_seconds_bucket{le="10"} 2',
        'punchr_client_round_duration_seconds_bucket{le="120"} 2',
        'punchr_client_round_duration_seconds_bucket{le="+Inf"} 3',
        'punchr_client_round_duration_seconds_sum 507.3',
        'punchr_client_round_duration_seconds_count 3',
      ])
        assert.ok(lines.has(line), `missing: ${line}`)
      // The process's figures come after the client's own, under the same prefix.
      assert.match(body, /^punchr_client_process_resident_memory_bytes \d+$/m)
      assert.match(body, /^# TYPE punchr_client_nodejs_eventloop_lag_seconds gauge$/m)
    } finally {
      await server.close()
    }
  })
})
