// `punchr tray` on a real (virtual) desktop: Xvfb, a D-Bus session bus and trayer (an XEmbed
// system tray), a real punchr server on loopback with an API key, a relay and two remotes
// seeded as the honeypot would: one without a reservation (NO_CONNECTION at once) and one
// that holds its reservation but never speaks DCUtR (its round stays "measuring" for the
// 30 s stream timeout, time enough to see the icon say so and to stop in the middle).
// The test only clicks, as a person would: xdotool on the icon and on the menu's lines, found
// in screenshots of the menu (xwd); it reads the client's real status.json, the tray's logs,
// the server's database, the autostart file and what the tray asked the opener to open.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { addApiKey } from '../../src/db/authorizations.js'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import type { Database } from '../../src/db/database.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { ICON_COLOURS } from '../../src/tray/icons.js'
import { encodePng } from '../../src/tray/png.js'
import type { IconState } from '../../src/tray/view.js'
import { PUNCHR_BIN } from '../support/cli.js'
import { openTestDatabase } from '../support/databases.js'
import { loopbackServerConfig, testGeo } from '../support/server.js'
import { until } from '../support/until.js'
import {
  findWindow,
  menuTextRows,
  pixelsNear,
  startX11Desktop,
  type X11Desktop,
  type XWindow,
} from '../support/x11.js'
import { crop } from '../support/xwd.js'

const LOCALHOST = '127.0.0.1'
const SCREENSHOTS =
  process.env.PUNCHR_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../docs/img/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'punchr-screenshots-'))

/** The menu's text lines, top to bottom (separators are not text). */
const ROW = {
  headline: 0,
  lastRound: 1,
  today: 2,
  toggle: 3,
  statusPage: 4,
  myResults: 5,
  apiKey: 6,
  launchOnLogin: 7,
  quit: 8,
} as const
const ROWS = 9

const base = () => ({ connectionEncrypters: [noise()], streamMuxers: [yamux()] })

async function startRelay() {
  return await createLibp2p({
    ...base(),
    addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`] },
    transports: [tcp()],
    services: { identify: identify(), ping: ping(), relay: circuitRelayServer() },
  })
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

interface LogLine {
  component?: string
  msg?: string
  [key: string]: unknown
}

describe('punchr tray on an X11 desktop', { timeout: 300_000 }, () => {
  let dir: string
  let desktop: X11Desktop
  let db: Database
  let server: PunchrServer
  let relay: Awaited<ReturnType<typeof startRelay>>
  const remotes: Libp2p[] = []
  let tray: ChildProcess
  let trayExit: Promise<number | null>
  let trayErr = ''
  let metricsPort: number
  let apiKey: string
  const openedFile = () => join(dir, 'opened.txt')

  const logs = (): LogLine[] =>
    trayErr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine)
  const trayLogs = (msg: string) => logs().filter((l) => l.component === 'tray' && l.msg === msg)
  const opened = () => (existsSync(openedFile()) ? readFileSync(openedFile(), 'utf8').trim().split('\n') : [])

  async function status(): Promise<
    | {
        state: string
        detail: string
        today: { rounds: number }
        lastRound: unknown
        myResultsUrl: string | null
      }
    | undefined
  > {
    try {
      const res = await fetch(`http://${LOCALHOST}:${metricsPort}/status.json`)
      return res.ok ? ((await res.json()) as Awaited<ReturnType<typeof status>>) : undefined
    } catch {
      return undefined
    }
  }

  /** The client is in a round with remotes[0], which never opens a DCUtR stream, after an earlier round. */
  async function inSilentRound(): Promise<boolean> {
    const s = await status()
    const silent = remotes[0]!.peerId.toString().slice(-4)
    return (
      s !== undefined &&
      s.lastRound !== null &&
      s.state === 'measuring' &&
      s.detail.includes(`connecting to 12D3…${silent}`)
    )
  }

  const panel = () => findWindow(desktop.tree(), (w) => w.className === 'trayer' && w.name === 'panel')
  /** The tray's icon: an XEmbed window of class "systray" embedded in trayer's panel. */
  const icon = () => {
    const p = panel()
    return p === undefined ? undefined : findWindow(p, (w) => w.className === 'systray' && w.width > 1)
  }
  /** Which state icon the tray shows, by the colour most of its pixels have. */
  function iconState(): IconState | undefined {
    const w = icon()
    if (w === undefined) return undefined
    const image = desktop.capture(w.id)
    const counts = (Object.keys(ICON_COLOURS) as IconState[]).map(
      (s) => [s, pixelsNear(image, ICON_COLOURS[s])] as const,
    )
    const [best, n] = counts.sort((a, b) => b[1] - a[1])[0]!
    return n >= 50 ? best : undefined
  }
  /** The helper's open menu: a mapped top-level window of the helper. */
  const menuWindow = (): XWindow | undefined =>
    desktop
      .tree()
      .children.find(
        (w) => w.instance === 'tray_linux_release' && w.width > 40 && w.height > 40 && desktop.viewable(w.id),
      )

  async function openMenu(): Promise<{ window: XWindow; rows: number[] }> {
    const i = icon()
    assert.ok(i !== undefined, 'the icon is in the tray')
    desktop.click(i.x + Math.floor(i.width / 2), i.y + Math.floor(i.height / 2))
    let window: XWindow | undefined
    await until(
      'the menu',
      () => {
        window = menuWindow()
        return window !== undefined
      },
      10_000,
      100,
    )
    // GTK draws the menu after mapping it: wait until all its lines are there.
    let rows: number[] = []
    await until(
      `${ROWS} lines in the menu`,
      () => {
        rows = menuTextRows(desktop.capture(window!.id))
        return rows.length === ROWS
      },
      5_000,
      100,
    )
    // GTK may move and resize the menu once it knows its size: where it is now.
    const settled = findWindow(desktop.tree(), (w) => w.id === window!.id) ?? window!
    return { window: settled, rows }
  }

  async function choose(row: number): Promise<void> {
    const { window, rows } = await openMenu()
    desktop.click(window.x + Math.floor(window.width / 2), window.y + rows[row]!)
    await until('the menu to close', () => !desktop.viewable(window.id), 5_000, 100)
  }

  function screenshot(name: string, x: number, y: number, width: number, height: number): string {
    const path = join(SCREENSHOTS, name)
    writeFileSync(path, encodePng(crop(desktop.capture('root'), x, y, width, height)))
    process.stderr.write(`# screenshot ${path}\n`)
    return path
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-tray-test-'))
    desktop = await startX11Desktop(dir)

    db = await openTestDatabase('pglite')
    // Remotes may be handed out again a second after their last round: rounds go on.
    server = await createServer(loopbackServerConfig({ retryPairAfter: 1 }), { db, geo: await testGeo() })
    await server.start()
    apiKey = (await addApiKey(db, 'volunteer')).key

    relay = await startRelay()
    const relayAddr = relay.getMultiaddrs()[0]!
    for (let i = 0; i < 2; i++) {
      // Reachable through the relay, never opens /libp2p/dcutr.
      const remote = await createLibp2p({
        ...base(),
        addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`, `${relayAddr.toString()}/p2p-circuit`] },
        transports: [tcp(), circuitRelayTransport()],
        services: { identify: identify(), ping: ping() },
      })
      remotes.push(remote)
      await until('the reservation', () => relay.services.relay.reservations.has(remote.peerId))
      const addr = classifyMultiaddr(
        multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${remote.peerId.toString()}`),
      )
      await recordConnectionEvent(
        db,
        {
          remoteId: remote.peerId.toString(),
          agentVersion: 'js-libp2p (tray test)',
          protocols: [...new Set([...remote.getProtocols(), '/libp2p/dcutr'])],
          listenAddrs: [addr],
          connectionAddr: addr,
          openedAt: new Date(),
        },
        () => ({ country: null, asn: null }),
      )
    }
    // The second one lost its reservation: the relayed dial to it fails (NO_CONNECTION).
    await relay.services.relay.reservations.delete(remotes[1]!.peerId)

    // The opener: records each URL instead of starting a browser.
    const opener = join(dir, 'opener.sh')
    writeFileSync(opener, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${openedFile()}'\n`)
    chmodSync(opener, 0o755)

    metricsPort = await freePort()
    const home = join(dir, 'home')
    tray = spawn(
      process.execPath,
      [
        PUNCHR_BIN,
        'tray',
        '--no-start',
        '--status-interval',
        '1',
        '--',
        '--server',
        `${LOCALHOST}:${server.grpcPort}`,
        '--api-key',
        apiKey,
        '--bootstrap-peers',
        relayAddr.toString(),
        '--listen-host',
        LOCALHOST,
        '--punch-private-addrs',
        '--no-port-mapping',
        '--router-probe',
        'off',
        '--transports',
        'tcp',
        '--ip',
        'ip4',
        '--host-count',
        '1',
        '--no-remote-wait',
        '1',
        '--metrics-port',
        String(metricsPort),
        '--queue-dir',
        join(dir, 'queue'),
        '--key-file',
        join(dir, 'client.keys'),
      ],
      {
        env: {
          ...process.env,
          ...desktop.env,
          HOME: home,
          XDG_CONFIG_HOME: join(home, '.config'),
          XDG_STATE_HOME: join(home, '.local', 'state'),
          PUNCHR_TRAY_OPENER: opener,
          PUNCHR_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    tray.stderr!.on('data', (chunk: Buffer) => {
      trayErr += chunk.toString('utf8')
    })
    trayExit = new Promise((resolve) => tray.once('exit', (code) => resolve(code)))
  })

  after(async () => {
    if (tray !== undefined && tray.exitCode === null && tray.signalCode === null) tray.kill('SIGKILL')
    // A tray killed outright leaves its client (own process group) behind.
    for (const started of trayLogs('client started')) {
      try {
        process.kill(started.pid as number, 'SIGKILL')
      } catch {}
    }
    await desktop?.stop()
    await Promise.allSettled(remotes.map((r) => r.stop()))
    await relay?.stop()
    await server?.destroy()
    await db?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    if (process.env.PUNCHR_TEST_TRAY_LOG === '1') process.stderr.write(trayErr)
  })

  it('shows a grey "stopped" icon in the system tray and a menu of nine lines', async () => {
    await until('the icon in trayer', () => icon() !== undefined, 20_000, 200)
    assert.ok(trayLogs('tray ready').length === 1, 'the tray said it is ready')
    await until('the stopped icon', () => iconState() === 'stopped', 5_000, 200)
    const p = panel()!
    screenshot('tray-icon.png', p.x, p.y, p.width, p.height)
    const { rows } = await openMenu()
    assert.equal(rows.length, ROWS)
    // Close it again without choosing: a click outside the menu.
    desktop.click(20, 500)
    await until('the menu to close', () => menuWindow() === undefined, 5_000, 100)
    assert.equal(await status(), undefined, 'no client runs before Start')
  })

  it('Launch on login writes the XDG autostart entry and removes it again', async () => {
    const entry = join(dir, 'home', '.config', 'autostart', 'punchr-tray.desktop')
    await choose(ROW.launchOnLogin)
    await until('the autostart entry', () => existsSync(entry))
    const text = readFileSync(entry, 'utf8')
    assert.match(text, /^\[Desktop Entry\]$/m)
    assert.match(text, /^Exec=.*punchr\.js tray --no-start /m)
    assert.ok(!text.includes(apiKey), 'the API key stays out of the autostart entry')
    await choose(ROW.launchOnLogin)
    await until('the autostart entry removed', () => !existsSync(entry))
  })

  it('Start measuring runs the client, whose rounds the icon and the menu show', async () => {
    await choose(ROW.toggle)
    await until('the client’s status.json', async () => (await status()) !== undefined, 30_000, 200)
    assert.equal(trayLogs('client started').length, 1)
    // A finished round, then the silent remote's round in progress (the client's detail names
    // the remote it connects to by the last four characters of its peer ID).
    await until('a reported round and the silent remote’s round in progress', inSilentRound, 90_000, 200)
    // The tray read that status too: its first menu line names this round.
    const round = /^round \d+: connecting to \S+/.exec((await status())!.detail)![0]
    await until(
      `the tray’s headline "${round}"`,
      () => trayLogs('tray state').some((l) => String(l.headline).includes(round)),
      10_000,
      100,
    )
    await until('the green "measuring" icon', () => iconState() === 'measuring', 10_000, 200)
    assert.ok(
      trayLogs('tray state').some(
        (l) => l.state === 'measuring' && String(l.headline).startsWith('Measuring'),
      ),
      'the tray logged the measuring state',
    )
    const { window } = await openMenu()
    // trayer sits at the top left, the menu opens below it to the right.
    const shot = screenshot(
      'tray-menu.png',
      0,
      0,
      window.x + window.width + 16,
      window.y + window.height + 16,
    )
    assert.ok(readFileSync(shot).subarray(1, 4).toString() === 'PNG')
    desktop.click(20, 500)
    await until('the menu to close', () => menuWindow() === undefined, 5_000, 100)
  })

  it('Open status page and My results hand the client’s URLs to the opener', async () => {
    await choose(ROW.statusPage)
    await until('the status page opened', () => opened().includes(`http://${LOCALHOST}:${metricsPort}/`))
    const mine = (await status())?.myResultsUrl
    assert.ok(typeof mine === 'string', 'the client knows the my-results URL')
    await choose(ROW.myResults)
    await until('my results opened', () => opened().includes(mine))
  })

  it('Stop measuring ends the client by SIGINT: the running round is reported as CANCELLED', async () => {
    assert.ok(await inSilentRound(), 'still in the silent remote’s round')
    await choose(ROW.toggle)
    await until('the client to exit', () => trayLogs('client exited').length === 1, 30_000, 200)
    const exited = trayLogs('client exited')[0]!
    assert.equal(exited.requested, true)
    assert.equal(exited.code, 0, 'the client ended cleanly')
    assert.equal(await status(), undefined, 'status.json went with the client')
    await until('the grey "stopped" icon', () => iconState() === 'stopped', 10_000, 200)
    const outcomes = (
      await db.query<{ outcome: string }>('SELECT outcome FROM hole_punch_results ORDER BY id')
    ).map((r) => r.outcome)
    assert.equal(outcomes.at(-1), 'CANCELLED', `the round in progress was reported: ${outcomes.join(', ')}`)
    assert.ok(outcomes.includes('NO_CONNECTION'), 'the earlier rounds were reported')
  })

  it('Set API key… opens a loopback form that only its own URL and host can use', async () => {
    const before = opened().length
    await choose(ROW.apiKey)
    await until('the key page opened', () => opened().length > before)
    const url = new URL(opened().at(-1)!)
    assert.equal(url.hostname, LOCALHOST)
    assert.match(url.pathname, /^\/[A-Za-z0-9_-]{32}\/$/, 'a random token in the path')

    const request = (method: string, path: string, headers: Record<string, string>, body = '') =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request({ host: LOCALHOST, port: url.port, method, path, headers }, (res) => {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        })
        req.on('error', reject)
        req.end(body)
      })
    const host = `${LOCALHOST}:${url.port}`
    const form = await request('GET', url.pathname, { host })
    assert.equal(form.status, 200)
    assert.match(form.text, /<form method="post"/)
    assert.equal((await request('GET', url.pathname, { host: `rebound.example:${url.port}` })).status, 403)
    assert.equal((await request('GET', '/not-the-token/', { host })).status, 404)
    const post = (headers: Record<string, string>, key: string) =>
      request(
        'POST',
        url.pathname,
        { host, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        `key=${encodeURIComponent(key)}`,
      )
    assert.equal((await post({ origin: 'http://evil.example' }, apiKey)).status, 403, 'a cross-site post')
    assert.equal((await post({}, 'short')).status, 400, 'not a key')

    const stored = await post({ origin: `http://${host}` }, apiKey)
    assert.equal(stored.status, 200, stored.text)
    assert.match(stored.text, /--api-key/, 'the page says the --api-key the tray was started with wins')
    const keyFile = join(dir, 'home', '.config', 'punchr', 'api.key')
    assert.equal(readFileSync(keyFile, 'utf8').trim(), apiKey)
  })

  it('Quit stops the tray with code 0 and takes the icon away', async () => {
    await choose(ROW.quit)
    assert.equal(await trayExit, 0)
    assert.equal(icon(), undefined, 'no icon left in the tray')
    assert.equal(trayLogs('tray stopped').length, 1)
  })
})
