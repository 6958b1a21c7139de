// The status page of a real `punchr client` process: a punchr server (PGlite) and a js-libp2p
// circuit relay run in the test on 127.0.0.1; the relay is the client's bootstrap peer, and
// remotes that hold no reservation on it are seeded as candidates the way the honeypot records
// them, so every round ends NO_CONNECTION within milliseconds (the relay refuses the circuit).
// Remotes are seeded in two batches, which makes the client wait for a remote in between, so
// /status.json is seen to change as rounds run. Another user of the machine (nobody, run with
// setpriv when the test runs as root) gets the status without the key. Then SIGUSR1's summary,
// and the page itself in headless Chromium (Debian's chromium, driven by playwright-core as the
// dashboard's browser test does): the state, today's rounds, the "My results" link, its own
// refresh, and what it shows instead of the link to another user.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Browser } from 'playwright-core'
import type { StatusJson } from '../../src/client/status.js'
import type { Database } from '../../src/db/database.js'
import { nodeForNobody, spawnNodeAsNobody } from '../support/as-nobody.js'
import { launchChromium, openPage } from '../support/browser.js'
import { PUNCHR_BIN } from '../support/cli.js'
import { openTestDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { startTestServer, type TestServer } from '../support/server.js'
import { until } from '../support/until.js'

const nobody = nodeForNobody()

/** GET http://127.0.0.1:<port><path> from a process of another user (nobody), as root can. */
function getAsNobody(port: number, path: string): Promise<{ status: number; body: string }> {
  const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())), (e) => { console.error(e); process.exit(1) })`
  const child = spawnNodeAsNobody((nobody as { node: string }).node, script, 'pipe')
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  return new Promise((resolve, reject) =>
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`GET ${path} as nobody: exit ${code}: ${stderr}`))
      const newline = stdout.indexOf('\n')
      resolve({ status: Number(stdout.slice(0, newline)), body: stdout.slice(newline + 1) })
    }),
  )
}

/** Records `count` fresh remotes that are reachable only through `relay` (they are not). */
async function seedUnreachableRemotes(db: Database, relay: Multiaddr, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await seenByHoneypot(db, await newPeer(), {
      through: relay.toString(),
      agentVersion: 'js-libp2p (status test)',
    })
  }
}

/** A `punchr client` process, its output collected. */
class ClientProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<number | null>

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [PUNCHR_BIN, 'client', ...args], {
      env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d
    })
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d
    })
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  /** The status page's port, from the line the client prints once it serves it. */
  async statusPort(): Promise<number> {
    let port: number | undefined
    await until(
      `the status page line\n${this.stderr}`,
      () => {
        port = Number(/^status page on http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(this.stdout)?.[1] ?? Number.NaN)
        return Number.isInteger(port)
      },
      30_000,
    )
    return port!
  }
}

describe('punchr client status page', { timeout: 180_000 }, () => {
  let db: Database
  let t: TestServer
  let relay: Libp2p
  let relayAddr: Multiaddr
  let dir: string
  let apiKey: string
  let apiKeyFile: string
  let client: ClientProcess
  let port: number
  let browser: Browser | undefined

  const status = async (): Promise<StatusJson> => {
    const res = await fetch(`http://127.0.0.1:${port}/status.json`)
    assert.equal(res.status, 200)
    return (await res.json()) as StatusJson
  }

  before(async () => {
    db = await openTestDatabase('pglite')
    t = await startTestServer(db)
    apiKey = await t.addKey('volunteer')
    relay = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping(), relay: circuitRelayServer() },
    })
    relayAddr = relay.getMultiaddrs()[0]!
    dir = await mkdtemp(join(tmpdir(), 'punchr-client-status-'))
    // The key where punchr login puts it: the page names that file to whoever gets no link.
    apiKeyFile = join(dir, 'config', 'punchr', 'api.key')
    await mkdir(join(dir, 'config', 'punchr'), { recursive: true, mode: 0o700 })
    await writeFile(apiKeyFile, `${apiKey}\n`, { mode: 0o600 })
    await seedUnreachableRemotes(db, relayAddr, 1)
    client = new ClientProcess(
      [
        '--server',
        `127.0.0.1:${t.server.grpcPort}`,
        '--dashboard-url',
        t.httpUrl,
        '--host-count',
        '1',
        '--listen-host',
        '127.0.0.1',
        '--ip',
        'ip4',
        '--transports',
        'tcp',
        '--bootstrap-peers',
        relayAddr.toString(),
        '--punch-private-addrs',
        '--no-port-mapping',
        '--router-probe',
        'off',
        '--metrics-port',
        '0',
        '--no-remote-wait',
        '1',
      ],
      {
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_STATE_HOME: join(dir, 'state'),
      },
    )
    port = await client.statusPort()
  })

  after(async () => {
    await browser?.close()
    if (client !== undefined && client.child.exitCode === null) {
      client.child.kill('SIGKILL')
      await client.exited
    }
    await relay?.stop()
    await t?.stop()
    await db?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('/status.json says who it is and changes as rounds run', async () => {
    const first = await status()
    assert.equal(first.version.length > 0, true)
    assert.equal(first.server, `127.0.0.1:${t.server.grpcPort}`)
    assert.equal(first.dashboardUrl, t.httpUrl)
    assert.equal(first.myResultsUrl, `${t.httpUrl}/#key=${apiKey}`, 'we asked as the same user')
    assert.equal(first.apiKeyFile, apiKeyFile)
    assert.equal(first.hosts.length, 1)
    assert.match(first.hosts[0]!, /^12D3KooW/)
    assert.ok(Date.now() - Date.parse(first.startedAt) < 120_000)

    // The first remote's round, then nothing to measure: the client waits for the next.
    let s = first
    await until(
      `round 1 and a wait (${JSON.stringify(s)})\n${client.stderr}`,
      async () => {
        s = await status()
        return s.today.rounds === 1 && s.state === 'waiting'
      },
      60_000,
      100,
    )
    assert.match(s.detail, /^no remote ready on the server; next ask in \d s$/)
    assert.equal(s.lastRound?.outcome, 'NO_CONNECTION')
    // The server served a TCP filter or none; without one a round that did not connect has no transport.
    assert.ok([null, 'tcp'].includes(s.lastRound?.transport ?? null), String(s.lastRound?.transport))
    assert.equal(s.lastRound?.attempts, 0)
    assert.deepEqual(s.lastHour.byOutcome, { NO_CONNECTION: 1 })
    assert.equal(s.today.successRate, null, 'NO_CONNECTION says nothing about hole punching')

    // Two more remotes: two more rounds.
    await seedUnreachableRemotes(db, relayAddr, 2)
    await until(
      `rounds 2 and 3 (${JSON.stringify(s)})\n${client.stderr}`,
      async () => {
        s = await status()
        return s.today.rounds === 3 && s.queue.reports === 0
      },
      60_000,
      100,
    )
    assert.deepEqual(s.lastHour.byOutcome, { NO_CONNECTION: 3 })
    assert.equal(s.lastHour.rounds, 3)
    assert.equal(s.total.rounds, 3)
    const stored = await db.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM hole_punch_results r JOIN clients c ON c.id = r.client_id
       JOIN authorizations k ON k.id = c.authorization_id WHERE k.username = 'volunteer'`,
    )
    assert.equal(Number(stored[0]!.n), 3, 'what the page counts, the server stored')
    assert.equal(client.stdout.match(/^round \d+ /gm)?.length, 3, 'one round line each')
  })

  it('another user of the machine gets the status without the key', {
    skip: 'skip' in nobody ? nobody.skip : false,
  }, async () => {
    const json = await getAsNobody(port, '/status.json')
    assert.equal(json.status, 200)
    assert.ok(!json.body.includes(apiKey), 'no key in /status.json')
    const s = JSON.parse(json.body) as StatusJson
    assert.equal(s.myResultsUrl, null)
    assert.equal(s.dashboardUrl, t.httpUrl)
    assert.equal(s.apiKeyFile, apiKeyFile)
    assert.equal(s.hosts.length, 1, 'the rest of the status as usual')
    const page = await getAsNobody(port, '/')
    assert.equal(page.status, 200)
    assert.ok(!page.body.includes(apiKey), 'no key in the page')
    // And we, asking again, still get it.
    assert.equal((await status()).myResultsUrl, `${t.httpUrl}/#key=${apiKey}`)
  })

  it('SIGUSR1 prints the last hour and the client keeps running', async () => {
    const before = client.stdout.length
    client.child.kill('SIGUSR1')
    await until('the SIGUSR1 summary', () => client.stdout.slice(before).includes('  queue: '), 10_000)
    const summary = client.stdout.slice(before)
    assert.match(summary, /^punchr client, last hour \(since \d\d:\d\d\): 3 round\(s\) — NO_CONNECTION 3\n/)
    assert.match(summary, /\n {2}success rate SUCCESS\/\(SUCCESS\+FAILED\): n\/a\n/)
    assert.match(summary, /\n {2}today: 3 round\(s\)/)
    assert.match(summary, /\n {2}now: (waiting|measuring) — /)
    assert.match(summary, /\n {2}last round: NO_CONNECTION with 12D3KooW\w+( over tcp)?, 0 attempt\(s\), at /)
    assert.match(
      summary,
      new RegExp(`\\n {2}queue: 0 report\\(s\\), 0 bytes, for 127\\.0\\.0\\.1:${t.server.grpcPort}\\n`),
    )
    assert.doesNotMatch(client.stderr, /Debugger listening/, 'SIGUSR1 did not open the inspector')
    assert.equal(client.child.exitCode, null, 'still running')
    assert.equal((await status()).today.rounds, 3)
  })

  it('the page in Chromium: state, today, the My results link, and it refreshes itself', async () => {
    browser = await launchChromium()
    const problems: string[] = []
    // A script or style the Content-Security-Policy blocked is one of them.
    const page = await openPage(browser, problems)
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForSelector('body[data-load="ready"]', { timeout: 15_000 })
    const field = (name: string) => page.textContent(`[data-field="${name}"]`)
    assert.ok(['waiting', 'measuring'].includes((await field('state')) ?? ''), (await field('state')) ?? '')
    assert.equal(await field('today-rounds'), '3')
    assert.equal(await field('today-rate'), 'n/a')
    assert.equal(await field('hour-rounds'), '3')
    assert.equal(await field('hour-outcomes'), 'NO_CONNECTION 3')
    assert.equal(await field('queue-reports'), '0')
    assert.equal(await field('server'), `127.0.0.1:${t.server.grpcPort}`)
    assert.match((await field('last-round')) ?? '', /^NO_CONNECTION with 12D3KooW/)
    const link = page.locator('[data-field="my-results"]')
    assert.equal(await link.textContent(), 'My results')
    assert.equal(await link.isVisible(), true)
    assert.equal(await link.getAttribute('href'), `${t.httpUrl}/#key=${apiKey}`)
    // The key is in that href and nowhere else on the page.
    const text = (await page.textContent('body')) ?? ''
    assert.ok(!text.includes(apiKey), 'the key is not shown')
    const hrefs = await page.$$eval('[href]', (els) => els.map((e) => e.getAttribute('href') ?? ''))
    assert.deepEqual(
      hrefs.filter((h) => h.includes(apiKey)),
      [`${t.httpUrl}/#key=${apiKey}`],
    )

    // Another round: the open page shows it by itself.
    await seedUnreachableRemotes(db, relayAddr, 1)
    await page.waitForFunction(
      () =>
        (
          globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
        ).document.querySelector('[data-field="today-rounds"]')?.textContent === '4',
      undefined,
      { timeout: 20_000 },
    )

    // What another user's browser shows: /status.json without myResultsUrl (as the client
    // answers them, see above) gives a plain dashboard link and where the key is.
    const other = await browser.newPage()
    other.on('pageerror', (err) => problems.push(`error in the other page: ${err.message}`))
    await other.route('**/status.json', async (route) => {
      const res = await route.fetch()
      const json = (await res.json()) as StatusJson
      await route.fulfill({ response: res, json: { ...json, myResultsUrl: null } })
    })
    await other.goto(`http://127.0.0.1:${port}/`)
    await other.waitForSelector('body[data-load="ready"]', { timeout: 15_000 })
    assert.equal(await other.locator('[data-field="my-results"]').isVisible(), false)
    const enter = other.locator('[data-field="enter-key"]')
    assert.equal(await enter.isVisible(), true)
    assert.equal(
      await enter.textContent(),
      `My results: open the dashboard and enter your key (punchr login stored it in ${apiKeyFile})`,
    )
    assert.equal(await other.locator('[data-field="dashboard"]').getAttribute('href'), t.httpUrl)
    assert.equal(await other.locator('[data-field="no-dashboard"]').isVisible(), false)
    const otherHrefs = await other.$$eval('[href]', (els) => els.map((e) => e.getAttribute('href') ?? ''))
    assert.deepEqual(
      otherHrefs.filter((h) => h.includes(apiKey)),
      [],
    )
    assert.ok(!((await other.textContent('body')) ?? '').includes(apiKey))
    await other.close()
    assert.deepEqual(problems, [])
  })

  it('stops on SIGINT with its summary', async () => {
    client.child.kill('SIGINT')
    assert.equal(await client.exited, 0, client.stderr)
    assert.match(client.stdout, /punchr client: 4 round\(s\) in/)
  })
})
