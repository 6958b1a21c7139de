import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { inflateSync } from 'node:zlib'
import { trayFlags } from '../../src/cli/tray.js'
import { clientFlags } from '../../src/client/config.js'
import { ConfigError } from '../../src/lib/errors.js'
import { findAppIndicator } from '../../src/tray/appindicator.js'
import { splitArgs } from '../../src/tray/args.js'
import { autostartFile, desktopEntry, launchAgentPlist } from '../../src/tray/autostart.js'
import { type ClientProcessState, lastWords } from '../../src/tray/client-process.js'
import { drawIcon, ICON_COLOURS, iconBase64 } from '../../src/tray/icons.js'
import { ITEM, menuItems } from '../../src/tray/menu.js'
import { openerCommand } from '../../src/tray/opener.js'
import { type ClientStatus, parseStatus, StatusShapeError } from '../../src/tray/status.js'
import { lastRoundLine, todayLine, trayView } from '../../src/tray/view.js'

/** status.json as the client serves it (with fields the tray does not read). */
function statusJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0.1.0',
    state: 'measuring',
    detail: 'round 3 with 12D3KooWabc',
    startedAt: '2026-12-06T10:00:00.000Z',
    server: '127.0.0.1:10000',
    dashboardUrl: 'http://127.0.0.1:10001',
    myResultsUrl: 'http://127.0.0.1:10001/#key=k',
    hosts: ['12D3KooWabc'],
    lastRound: {
      finishedAt: '2026-12-06T10:08:00.000Z',
      outcome: 'SUCCESS',
      remoteId: '12D3KooWdef',
      transport: 'tcp',
      attempts: 1,
      durationMs: 1234.5,
    },
    today: { rounds: 9, successes: 7, failures: 2, successRate: 7 / 9, byOutcome: {} },
    lastHour: { rounds: 2, byOutcome: { SUCCESS: 2 }, successRate: 1, since: '2026-12-06T09:10:00Z' },
    total: { rounds: 9 },
    queue: { reports: 0, bytes: 0 },
    lastError: null,
    now: '2026-12-06T10:10:00.000Z',
    ...overrides,
  }
}

const running = (since = '2026-12-06T09:59:59.000Z'): ClientProcessState => ({
  kind: 'running',
  pid: 42,
  since: new Date(since),
})
const now = new Date('2026-12-06T10:10:00.000Z')

describe('tray: status.json', () => {
  it('reads the client’s status and ignores fields it does not know', () => {
    const status = parseStatus(statusJson())
    assert.equal(status.state, 'measuring')
    assert.equal(status.lastRound?.outcome, 'SUCCESS')
    assert.deepEqual(status.lastRound?.finishedAt, new Date('2026-12-06T10:08:00.000Z'))
    assert.equal(status.today.successes, 7)
    assert.equal(parseStatus(statusJson({ lastRound: null, myResultsUrl: null })).lastRound, null)
  })

  it('names the field that is wrong', () => {
    const wrong = (overrides: Record<string, unknown>, field: RegExp) =>
      assert.throws(
        () => parseStatus(statusJson(overrides)),
        (err: Error) => {
          assert.ok(err instanceof StatusShapeError)
          assert.match(err.message, field)
          return true
        },
      )
    wrong({ state: 'dancing' }, /^state: unknown state "dancing"/)
    wrong({ today: { rounds: -1, successes: 0, failures: 0, successRate: null } }, /^today\.rounds/)
    wrong({ lastRound: { outcome: 'SUCCESS' } }, /^lastRound\.finishedAt/)
    wrong({ myResultsUrl: 'javascript:alert(1)' }, /^myResultsUrl: not an http\(s\) URL/)
    wrong({ hosts: 'abc' }, /^hosts: not an array/)
    assert.throws(() => parseStatus([]), /status: not an object/)
  })
})

describe('tray: what it shows', () => {
  const status = parseStatus(statusJson())
  const view = (client: ClientProcessState, s: ClientStatus | undefined, statusError?: string) =>
    trayView({ client, status: s, statusError, now })

  it('stopped before the first start and after a requested stop, whatever the exit code', () => {
    assert.equal(view({ kind: 'idle' }, undefined).icon, 'stopped')
    const stopped = view({ kind: 'exited', code: 130, signal: null, requested: true, lastError: 'x' }, status)
    assert.equal(stopped.icon, 'stopped')
    assert.equal(stopped.headline, 'Stopped')
    assert.equal(stopped.running, false)
    assert.equal(stopped.lastRound, 'Last: SUCCESS over TCP, 2 min ago', 'the last round is still shown')
  })

  it('waiting while the child runs and its status is not there yet, with the reason', () => {
    const v = view(running(), undefined, 'status.json not reachable (ECONNREFUSED)')
    assert.equal(v.icon, 'waiting')
    assert.equal(v.tooltip, 'punchr: Starting (status: status.json not reachable (ECONNREFUSED))')
    assert.equal(v.running, true)
    assert.equal(v.statusPageEnabled, true)
  })

  it('the client’s own state while it runs; a status of an earlier child does not count', () => {
    const v = view(running(), status)
    assert.equal(v.icon, 'measuring')
    assert.equal(v.headline, 'Measuring: round 3 with 12D3KooWabc')
    assert.equal(v.tooltip, 'punchr: Measuring: round 3 with 12D3KooWabc')
    assert.equal(v.myResultsUrl, 'http://127.0.0.1:10001/#key=k')
    assert.equal(view(running(), parseStatus(statusJson({ state: 'waiting' }))).icon, 'waiting')
    assert.equal(view(running(), parseStatus(statusJson({ state: 'error', detail: 'bad' }))).icon, 'error')
    assert.equal(view(running('2026-12-06T10:05:00.000Z'), status).icon, 'waiting', 'stale status')
  })

  it('error with the client’s last words when it exits on its own with a non-zero code', () => {
    const v = view(
      { kind: 'exited', code: 2, signal: null, requested: false, lastError: 'no API key yet' },
      status,
    )
    assert.equal(v.icon, 'error')
    assert.equal(v.headline, 'Error: no API key yet')
    const killed = view(
      { kind: 'exited', code: null, signal: 'SIGSEGV', requested: false, lastError: undefined },
      undefined,
    )
    assert.equal(killed.headline, 'Error: the client was killed by SIGSEGV')
  })

  it('cuts long lines for the menu', () => {
    const v = view(running(), parseStatus(statusJson({ detail: 'x'.repeat(300) })))
    assert.ok(v.headline.length <= 56 && v.headline.endsWith('…'))
    assert.ok(v.tooltip.length > v.headline.length)
  })

  it('words the last round and today', () => {
    assert.equal(lastRoundLine(undefined, now), 'Last: no round yet')
    const noTransport = parseStatus(
      statusJson({
        lastRound: { ...(statusJson().lastRound as object), outcome: 'NO_CONNECTION', transport: null },
      }),
    )
    assert.equal(lastRoundLine(noTransport, new Date('2026-12-06T15:08:00Z')), 'Last: NO_CONNECTION, 5 h ago')
    assert.equal(lastRoundLine(status, new Date('2026-12-06T10:08:20Z')), 'Last: SUCCESS over TCP, just now')
    assert.equal(todayLine(status), 'Today: 7 of 9 succeeded (78 %)')
    assert.equal(
      todayLine(
        parseStatus(statusJson({ today: { rounds: 0, successes: 0, failures: 0, successRate: null } })),
      ),
      'Today: no rounds yet',
    )
  })

  it('the menu: a toggle that says what it will do, a check mark the Linux helper can draw', () => {
    const stopped = menuItems(view({ kind: 'idle' }, undefined), false, 'linux')
    const toggle = (items: typeof stopped) => items.find((i) => i.id === ITEM.toggle)
    const title = (i: (typeof stopped)[number] | undefined) =>
      i !== undefined && i.separator !== true ? i.title : undefined
    assert.equal(stopped.length, 11)
    assert.equal(title(toggle(stopped)), 'Start measuring')
    assert.equal(title(toggle(menuItems(view(running(), status), false, 'linux'))), 'Stop measuring')
    const login = (enabled: boolean, platform: NodeJS.Platform) =>
      menuItems(view({ kind: 'idle' }, undefined), enabled, platform).find((i) => i.id === ITEM.launchOnLogin)
    assert.equal(title(login(true, 'linux')), 'Launch on login ✓')
    assert.equal(title(login(true, 'darwin')), 'Launch on login')
    const myResults = stopped.find((i) => i.id === ITEM.myResults)
    assert.ok(myResults !== undefined && myResults.separator !== true && !myResults.enabled, 'no URL yet')
  })
})

describe('tray: the client child', () => {
  it('takes the client’s error line, or the message of a warning or worse', () => {
    assert.equal(lastWords('punchr client: no API key yet'), 'no API key yet')
    assert.equal(lastWords('{"level":30,"msg":"round finished"}'), undefined)
    assert.equal(
      lastWords('{"level":60,"msg":"punchr client failed","err":{"message":"EADDRINUSE"}}'),
      'punchr client failed: EADDRINUSE',
    )
    assert.equal(lastWords('   '), undefined)
  })

  it('splits the tray’s flags from the client’s', () => {
    assert.deepEqual(
      splitArgs(
        ['--no-start', '--server', 'h:1', '--tls', '--status-interval=2', '--', '--rounds', '3', 'x'],
        trayFlags,
        clientFlags,
      ),
      {
        tray: ['--no-start', '--status-interval=2'],
        client: ['--server', 'h:1', '--tls', '--rounds', '3', 'x'],
      },
    )
    assert.throws(() => splitArgs(['--colour', 'red'], trayFlags, clientFlags), ConfigError)
  })
})

describe('tray: launch on login', () => {
  const command = ['/opt/node 22/bin/node', '/home/v/punchr/bin/punchr.js', 'tray', '--server', 'a&b:1']

  it('a LaunchAgent that runs the tray at login', () => {
    assert.equal(
      launchAgentPlist('punchr.tray', command),
      `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>punchr.tray</string>
  <key>ProgramArguments</key>
  <array>
    <string>/opt/node 22/bin/node</string>
    <string>/home/v/punchr/bin/punchr.js</string>
    <string>tray</string>
    <string>--server</string>
    <string>a&#38;b:1</string>
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <false/>
  <key>ProcessType</key>
  <string>Interactive</string>
</dict>
</plist>
`,
    )
    assert.equal(
      autostartFile('darwin', { HOME: '/Users/v' }, command).path,
      '/Users/v/Library/LaunchAgents/punchr.tray.plist',
    )
  })

  it('an XDG autostart entry with the Exec arguments quoted and escaped', () => {
    const text = desktopEntry(['/opt/node 22/node', '/p/punchr.js', 'tray', '--x', '100%', 'a"b$c'])
    assert.match(text, /^Exec="\/opt\/node 22\/node" \/p\/punchr\.js tray --x 100%% "a\\\\"b\\\\\$c"$/m)
    assert.equal(
      autostartFile('linux', { HOME: '/home/v', XDG_CONFIG_HOME: '/cfg' }, command).path,
      '/cfg/autostart/punchr-tray.desktop',
    )
    assert.equal(
      autostartFile('linux', { HOME: '/home/v' }, command).path,
      '/home/v/.config/autostart/punchr-tray.desktop',
    )
  })
})

describe('tray: platform pieces', () => {
  it('prefers the Ayatana AppIndicator of this architecture, else the legacy one, else none', () => {
    const ldconfig = [
      "568 libs found in cache `/etc/ld.so.cache'",
      '\tlibayatana-appindicator3.so.1 (libc6) => /usr/lib/i386-linux-gnu/libayatana-appindicator3.so.1',
      '\tlibayatana-appindicator3.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libayatana-appindicator3.so.1',
      '\tlibappindicator3.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libappindicator3.so.1',
    ].join('\n')
    const all = () => true
    assert.deepEqual(findAppIndicator(ldconfig, 'x64', all), {
      kind: 'ayatana',
      path: '/lib/x86_64-linux-gnu/libayatana-appindicator3.so.1',
    })
    // No ldconfig cache: the library directories decide.
    const legacyOnly = (p: string) => p === '/usr/lib64/libappindicator3.so.1'
    assert.deepEqual(findAppIndicator('', 'x64', legacyOnly), {
      kind: 'legacy',
      path: '/usr/lib64/libappindicator3.so.1',
    })
    assert.equal(
      findAppIndicator(ldconfig, 'x64', () => false),
      undefined,
      'listed but gone',
    )
  })

  it('opens URLs with the platform’s opener unless PUNCHR_TRAY_OPENER names one', () => {
    const url = 'http://127.0.0.1:12001/'
    assert.deepEqual(openerCommand(url, 'linux', {}), { command: 'xdg-open', args: [url] })
    assert.deepEqual(openerCommand(url, 'darwin', {}), { command: 'open', args: [url] })
    assert.deepEqual(openerCommand('http://h/?a=1&b=2', 'win32', {}).args, [
      '/c',
      'start',
      '""',
      'http://h/?a=1^&b=2',
    ])
    assert.deepEqual(openerCommand(url, 'linux', { PUNCHR_TRAY_OPENER: '/bin/rec' }), {
      command: '/bin/rec',
      args: [url],
    })
  })

  it('draws four 32×32 icons in their colours, as PNG and (Windows) as ICO', () => {
    for (const state of ['measuring', 'waiting', 'stopped', 'error'] as const) {
      const image = drawIcon(state)
      const edge = (16 * 32 + 3) * 4 // left edge of the disc, middle row: disc colour
      assert.deepEqual([...image.data.subarray(edge, edge + 3)], [...ICON_COLOURS[state]], state)
      assert.equal(image.data[3], 0, 'the corners are transparent')

      const png = Buffer.from(iconBase64(state, 'linux'), 'base64')
      assert.equal(png.subarray(1, 4).toString(), 'PNG')
      assert.equal(png.readUInt32BE(16), 32)
      assert.equal(png.readUInt32BE(20), 32)
      const idatLength = png.readUInt32BE(33)
      const raw = inflateSync(png.subarray(41, 41 + idatLength))
      assert.equal(raw.length, (32 * 4 + 1) * 32, 'one filter byte and 32 RGBA pixels a row')

      const ico = Buffer.from(iconBase64(state, 'win32'), 'base64')
      assert.deepEqual([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4)], [0, 1, 1])
      assert.equal(ico[6], 32)
      assert.equal(ico.readUInt32LE(6 + 12), 22, 'the image follows the one entry')
      assert.deepEqual(ico.subarray(22), png)
    }
  })
})
