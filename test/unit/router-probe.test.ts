import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type RequestListener } from 'node:http'
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net'
import { endianness, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { findDefaultGateway, parseProcNetRoute } from '../../src/client/default-gateway.js'
import {
  MAX_FINGERPRINT_BYTES,
  probeRouter,
  ROUTER_FINGERPRINT_FORMAT,
  ROUTER_FINGERPRINT_PREFIX,
  type RouterFingerprint,
  type RouterProbeResult,
} from '../../src/client/router-probe.js'
import {
  LAB_ROUTER_PRIVATE_STRINGS,
  LAB_ROUTER_SERVER,
  LAB_ROUTER_TITLE,
} from '../../src/lab/router-login-page.js'

interface TestServer {
  port: number
  /** The paths requested so far. */
  requests: string[]
  close(): Promise<void>
}

const servers: TestServer[] = []
after(() => Promise.all(servers.map((s) => s.close())))

/** An HTTP server on 127.0.0.1 and a free port, closed after the file's tests. */
async function serve(handler: RequestListener): Promise<TestServer> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(req.url ?? '')
    handler(req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let closed: Promise<void> | undefined
  const s: TestServer = {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
  servers.push(s)
  return s
}

/** The fingerprint of a result that must be one, checked for the marker and the size bound. */
function fingerprintOf(result: RouterProbeResult): RouterFingerprint & { text: string } {
  assert.ok('fingerprint' in result, `expected a fingerprint, got ${JSON.stringify(result)}`)
  const text = result.fingerprint
  assert.ok(text.startsWith(ROUTER_FINGERPRINT_PREFIX), text)
  assert.ok(Buffer.byteLength(text) < MAX_FINGERPRINT_BYTES, `${Buffer.byteLength(text)} bytes`)
  const fp = JSON.parse(text) as RouterFingerprint
  assert.equal(fp.format, ROUTER_FINGERPRINT_FORMAT)
  assert.deepEqual(Object.keys(fp), [
    'format',
    'status',
    'server',
    'title',
    'vendors',
    'models',
    'authRealm',
    'bodySha256',
    'bodyBytes',
    'truncated',
  ])
  return { ...fp, text }
}

function errorOf(result: RouterProbeResult): string {
  assert.ok('error' in result, `expected an error, got ${JSON.stringify(result)}`)
  assert.doesNotMatch(result.error, /[\r\n]/)
  assert.ok(result.error.length <= 200, result.error)
  return result.error
}

/** Every string value in a parsed fingerprint. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(strings)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings)
  return []
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

const PRIVATE = ['Alice Example', 'AliceNet-5G', 'alice.example@example.com', 's3cr3t-session-42']
const FRITZ_PAGE = `<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<meta name="description" content="FRITZ!Box 7590 of Alice Example">
<title>FRITZ!Box 7590</title>
</head><body>
<h1>Welcome to your FRITZ!Box</h1>
<p>Owner: Alice Example</p>
<p>WiFi: AliceNet-5G</p>
<p>Contact: alice.example@example.com</p>
<p>Network name: FRITZ!Box AliceNet-5G</p>
<script>var owner = "Alice Example"; var model = "FRITZ!Box 7590";</script>
</body></html>`

describe('probeRouter: a typical login page', () => {
  it('keeps title, Server, vendor and model, and none of the private strings', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        Server: 'AVM FRITZ!Box',
        'Set-Cookie': 'sid=s3cr3t-session-42; HttpOnly',
        'X-Owner': 'Alice Example',
      })
      res.end(FRITZ_PAGE)
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.status, 200)
    assert.equal(fp.server, 'AVM FRITZ!Box')
    assert.equal(fp.title, 'FRITZ!Box 7590')
    assert.deepEqual(fp.vendors, ['FRITZ!Box', 'AVM'])
    assert.deepEqual(fp.models, ['FRITZ!Box 7590'])
    assert.equal(fp.authRealm, null)
    assert.equal(fp.bodySha256, sha256(FRITZ_PAGE))
    assert.equal(fp.bodyBytes, Buffer.byteLength(FRITZ_PAGE))
    assert.equal(fp.truncated, false)
    for (const secret of PRIVATE) assert.ok(!fp.text.includes(secret), `${secret} in ${fp.text}`)
    assert.doesNotMatch(fp.text, /alice|owner|sid=|cookie/i)
    assert.deepEqual(s.requests, ['/'])
  })

  it('decodes the basic entities of the title and collapses its whitespace', async () => {
    const s = await serve((_req, res) => {
      res.end(
        '<TITLE lang="de">\n  Speedport&nbsp;Smart 3 &amp;\t&lt;Home&gt; &#8211; &#x41;&quot;B&apos; &copy;\n</title>',
      )
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.title, 'Speedport Smart 3 & <Home> – A"B\' &copy;')
    assert.deepEqual(fp.vendors, ['Speedport'])
    assert.deepEqual(fp.models, ['Speedport Smart 3'])
    assert.equal(fp.server, null)
  })

  it('reads a latin1 page as latin1', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=ISO-8859-1' })
      res.end(Buffer.from('<title>Zyxel VMG8825-T50 \xdcbersicht</title>', 'latin1'))
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.title, 'Zyxel VMG8825-T50 Übersicht')
    assert.deepEqual(fp.vendors, ['Zyxel'])
    assert.deepEqual(fp.models, ['Zyxel VMG8825-T50'])
  })
})

describe('probeRouter: redirects', () => {
  it('follows a redirect to /login.html on the same host', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/') res.writeHead(302, { Location: '/login.html' }).end('moved')
      else res.end('<title>NETGEAR Nighthawk R7000</title>')
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.title, 'NETGEAR Nighthawk R7000')
    assert.deepEqual(fp.models, ['NETGEAR Nighthawk R7000'])
    assert.deepEqual(s.requests, ['/', '/login.html'])
  })

  it('follows an absolute redirect to the same host and another port', async () => {
    const target = await serve((_req, res) => res.end('<title>OpenWrt</title>'))
    const s = await serve((_req, res) =>
      res.writeHead(301, { Location: `http://127.0.0.1:${target.port}/cgi-bin/luci?x=1` }).end(),
    )
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.title, 'OpenWrt')
    assert.deepEqual(target.requests, ['/cgi-bin/luci?x=1'])
  })

  it('does not follow a redirect to another host, and says so', async () => {
    const other = await serve((_req, res) => res.end('<title>other</title>'))
    const s = await serve((req, res) => {
      const location = req.url === '/' ? `http://localhost:${other.port}/` : 'http://192.0.2.1/'
      res.writeHead(req.url === '/' ? 302 : 307, { Location: location }).end()
    })
    assert.equal(
      errorOf(await probeRouter({ gateway: '127.0.0.1', port: s.port })),
      'HTTP 302 redirect to another host not followed',
    )
    assert.deepEqual(s.requests, ['/'])
    assert.deepEqual(other.requests, []) // localhost is this machine too, but another host name
  })

  it('does not follow a redirect to HTTPS', async () => {
    const s = await serve((_req, res) => res.writeHead(301, { Location: 'https://127.0.0.1/' }).end())
    assert.equal(
      errorOf(await probeRouter({ gateway: '127.0.0.1', port: s.port })),
      'HTTP 301 redirect to HTTPS not followed',
    )
  })

  it('follows at most 3 redirects', async () => {
    const s = await serve((req, res) => res.writeHead(302, { Location: `${req.url}x` }).end())
    assert.equal(
      errorOf(await probeRouter({ gateway: '127.0.0.1', port: s.port })),
      'too many redirects (more than 3)',
    )
    assert.deepEqual(s.requests, ['/', '/x', '/xx', '/xxx'])
  })

  it('3 redirects are fine', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/xxx') res.end('<title>ok</title>')
      else res.writeHead(303, { Location: `${req.url}x` }).end()
    })
    assert.equal(fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port })).title, 'ok')
  })
})

describe('probeRouter: answers without a page', () => {
  it('a 401 with a Basic realm: the realm, its vendor and model', async () => {
    const s = await serve((_req, res) =>
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="TP-LINK Archer C7"' }).end(),
    )
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.status, 401)
    assert.equal(fp.authRealm, 'TP-LINK Archer C7')
    assert.deepEqual(fp.vendors, ['TP-Link'])
    assert.deepEqual(fp.models, ['TP-LINK Archer C7'])
    assert.equal(fp.title, null)
    assert.equal(fp.bodyBytes, 0)
    assert.equal(fp.bodySha256, sha256(''))
  })

  it('an empty 404 without Server header is an error', async () => {
    const s = await serve((_req, res) => res.writeHead(404).end())
    assert.equal(
      errorOf(await probeRouter({ gateway: '127.0.0.1', port: s.port })),
      `HTTP 404 without body (127.0.0.1:${s.port})`,
    )
  })
})

describe('probeRouter: bounds', () => {
  // A probe that does not stop reading never resolves: the timeout turns that into a failure.
  it('reads at most maxBytes of an endless body, then hangs up', { timeout: 10_000 }, async () => {
    const chunk = Buffer.alloc(16 * 1024, 'a')
    let sent = 0
    let hungUp!: () => void
    const serverSawClose = new Promise<void>((resolve) => {
      hungUp = resolve
    })
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', Server: 'MikroTik' })
      res.on('close', () => hungUp())
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length
        if (!res.destroyed) res.once('drain', pump)
      }
      res.write('<title>RouterOS RB750Gr3</title>')
      pump()
    })
    const maxBytes = 100_000
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port, maxBytes }))
    const expected = Buffer.concat([Buffer.from('<title>RouterOS RB750Gr3</title>'), Buffer.alloc(1e6, 'a')])
    assert.equal(fp.bodyBytes, maxBytes)
    assert.equal(fp.truncated, true)
    assert.equal(fp.bodySha256, sha256(expected.subarray(0, maxBytes)))
    assert.equal(fp.title, 'RouterOS RB750Gr3')
    assert.deepEqual(fp.vendors, ['MikroTik'])
    assert.deepEqual(fp.models, ['RouterOS RB750Gr3'])
    await serverSawClose
    const total = sent
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(sent, total, 'the server still sends')
  })

  it('a body of exactly maxBytes is not truncated', async () => {
    const s = await serve((_req, res) => res.end(Buffer.alloc(1000, 'b')))
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port, maxBytes: 1000 }))
    assert.equal(fp.bodyBytes, 1000)
    assert.equal(fp.truncated, false)
  })

  it('strips NUL and control characters and bounds a 10 000-character title', async () => {
    const title = `FRITZ!Box\u0000 7490\u0007\u001b[31m\u202e${'x'.repeat(10_000)}`
    const s = await serve((_req, res) => {
      res.writeHead(200, {
        Server: `evil\tserver ${'S'.repeat(500)}`,
        'WWW-Authenticate': `Basic realm="\t${'R'.repeat(500)}"`, // node refuses other controls in headers
      })
      res.end(`<title>${title}</title>\u0000\u0001 body`)
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    for (const text of strings(fp)) assert.doesNotMatch(text, /[\p{Cc}\u202e]/u, JSON.stringify(text))
    assert.doesNotMatch(fp.text, /\\u00|\\t|\\n|\\r/)
    assert.equal(fp.title?.length, 120)
    assert.ok(fp.title?.startsWith('FRITZ!Box 7490[31mxxx'), fp.title ?? '')
    assert.ok(fp.server !== null && fp.server.length <= 80 && fp.server.startsWith('evil server SSS'))
    assert.ok(fp.authRealm !== null && fp.authRealm.length <= 80 && /^R+$/.test(fp.authRealm))
  })

  it('stays under 2 KiB for a page naming every vendor with long multibyte texts', async () => {
    const names = [
      'FRITZ!Box 7590',
      'AVM',
      'TP-Link Archer C7',
      'NETGEAR R7000',
      'ASUS RT-AC68U',
      'Linksys EA8500',
      'D-Link DIR-615',
      'Huawei HG8245H',
      'ZTE F660',
      'Technicolor TG789',
      'Sagemcom 5366',
      'Zyxel VMG8825-T50',
      'MikroTik',
      'Ubiquiti',
      'OpenWrt',
      'LuCI',
      'DD-WRT',
      'pfSense',
      'OPNsense',
      'Speedport',
      'Vodafone',
      'Livebox',
      'Freebox',
    ]
    const s = await serve((_req, res) => {
      res.writeHead(200, {
        Server: '\u00e9"\\'.repeat(200),
        'WWW-Authenticate': `Digest realm="${'\u00ff\\'.repeat(200)}"`,
      })
      res.end(`<title>${'"€😀'.repeat(5000)}</title><p>${names.join(' and ')}</p>`)
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.equal(fp.vendors.length, 12)
    assert.equal(fp.models.length, 5)
    for (const model of fp.models) assert.match(model, /^[A-Za-z0-9 !._+-]{1,40}$/)
    assert.ok(Buffer.byteLength(fp.text) < MAX_FINGERPRINT_BYTES, `${Buffer.byteLength(fp.text)} bytes`)
  })

  it('a name the owner chose after a vendor name is no model', async () => {
    const s = await serve((_req, res) =>
      res.end(
        '<title>FRITZ!Box AliceNet-5G</title> FRITZ!Box Alice5 NETGEAR Home Alice 42 TP-Link Bobs-Router',
      ),
    )
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port }))
    assert.deepEqual(fp.models, [])
    assert.deepEqual(fp.vendors, ['FRITZ!Box', 'TP-Link', 'NETGEAR'])
  })
})

describe('probeRouter: failures', () => {
  it('times out on a server that never answers', async () => {
    const sockets = new Set<Socket>()
    const server = createTcpServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => undefined)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    try {
      const t0 = Date.now()
      const error = errorOf(await probeRouter({ gateway: '127.0.0.1', port, timeoutMs: 200 }))
      const took = Date.now() - t0
      assert.equal(error, `timeout after 200 ms (127.0.0.1:${port})`)
      assert.ok(took >= 190 && took < 2000, `${took} ms`)
      assert.equal(sockets.size, 1)
    } finally {
      for (const socket of sockets) socket.destroy()
      server.close()
    }
  })

  it('a deadline during the body keeps what came: a truncated fingerprint', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100000' })
      res.write('<title>Tenda AC10</title>') // and then nothing more
    })
    const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port: s.port, timeoutMs: 200 }))
    assert.equal(fp.title, 'Tenda AC10')
    assert.equal(fp.truncated, true)
    assert.equal(fp.bodyBytes, '<title>Tenda AC10</title>'.length)
  })

  it('reports a refused connection', async () => {
    const server = createTcpServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    await new Promise((resolve) => server.close(resolve))
    assert.equal(
      errorOf(await probeRouter({ gateway: '127.0.0.1', port })),
      `connection refused (127.0.0.1:${port})`,
    )
  })

  it('reports a response that is no HTTP', async () => {
    const server = createTcpServer((socket) => socket.end('SSH-2.0-dropbear\r\n\r\n'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    try {
      assert.match(
        errorOf(await probeRouter({ gateway: '127.0.0.1', port })),
        /^invalid HTTP response \(127\.0\.0\.1:\d+, HPE_[A-Z_]+\)$/,
      )
    } finally {
      server.close()
    }
  })

  it('stops when the caller aborts', async () => {
    const s = await serve(() => undefined) // never answers
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const t0 = Date.now()
    const result = await probeRouter({ gateway: '127.0.0.1', port: s.port, signal: controller.signal })
    assert.equal(errorOf(result), 'aborted')
    assert.ok(Date.now() - t0 < 1000)
    assert.equal(errorOf(await probeRouter({ gateway: '127.0.0.1', signal: controller.signal })), 'aborted')
  })
})

describe('default gateway', () => {
  const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT'
  const row = (iface: string, dest: string, gw: string, flags: string, metric: number, mask: string) =>
    `${iface}\t${dest}\t${gw}\t${flags}\t0\t0\t${metric}\t${mask}\t0\t0\t0                                    `

  it('parseProcNetRoute: the default route (little-endian hex)', () => {
    const text = [
      HEADER,
      row('eth0', '00000000', '0101A8C0', '0003', 100, '00000000'),
      row('eth0', '0001A8C0', '00000000', '0001', 100, '00FFFFFF'),
      '',
    ].join('\n')
    assert.equal(parseProcNetRoute(text, true), '192.168.1.1')
    assert.equal(parseProcNetRoute(text, false), '1.1.168.192')
  })

  it('parseProcNetRoute: the lowest metric wins; down routes and routes without a gateway do not count', () => {
    const text = [
      HEADER,
      row('wlan0', '00000000', '01B2A8C0', '0003', 600, '00000000'),
      row('eth0', '00000000', '0100000A', '0003', 100, '00000000'),
      row('tun0', '00000000', '00000000', '0001', 50, '00000000'), // a point-to-point default
      row('eth1', '00000000', '0101A8C0', '0002', 10, '00000000'), // not up
    ].join('\n')
    assert.equal(parseProcNetRoute(text, true), '10.0.0.1')
  })

  it('parseProcNetRoute: no default route, or no text', () => {
    const text = [HEADER, row('eth0', '0001A8C0', '00000000', '0001', 0, '00FFFFFF')].join('\n')
    assert.equal(parseProcNetRoute(text, true), undefined)
    assert.equal(parseProcNetRoute('', true), undefined)
    assert.equal(parseProcNetRoute('garbage\n00000000 nonsense', true), undefined)
  })

  it('findDefaultGateway: from a file, or why not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'router-probe-'))
    try {
      const withDefault = join(dir, 'route')
      const without = join(dir, 'route-no-default')
      await writeFile(
        withDefault,
        `${HEADER}\n${row('eth0', '00000000', '010200C0', '0003', 0, '00000000')}\n`,
      )
      await writeFile(without, `${HEADER}\n`)
      const gateway = endianness() === 'LE' ? '192.0.2.1' : '1.2.0.192'
      assert.deepEqual(await findDefaultGateway(withDefault), { gateway })
      assert.deepEqual(await findDefaultGateway(without), {
        error: `no default IPv4 gateway found in ${without}`,
      })
      assert.deepEqual(await findDefaultGateway(join(dir, 'missing')), {
        error: `cannot read ${join(dir, 'missing')}: ENOENT`,
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('the lab router (src/lab/peers/router-login.ts)', () => {
  const program = fileURLToPath(new URL('../../src/lab/peers/router-login.js', import.meta.url))

  for (const redirect of [false, true]) {
    it(`serves its login page${redirect ? ' behind a redirect' : ''}; only title and Server leave`, async () => {
      const args = [program, '--ip', '127.0.0.1', '--port', '0', ...(redirect ? ['--redirect'] : [])]
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = once(child, 'exit')
      try {
        const lines = createInterface({ input: child.stdout })
        const [first] = (await once(lines, 'line')) as [string]
        const ready = JSON.parse(first) as { ready: boolean; url: string; title: string; server: string }
        assert.equal(ready.ready, true)
        assert.deepEqual([ready.title, ready.server], [LAB_ROUTER_TITLE, LAB_ROUTER_SERVER])
        const port = Number(new URL(ready.url).port)
        const fp = fingerprintOf(await probeRouter({ gateway: '127.0.0.1', port }))
        assert.equal(fp.status, 200)
        assert.equal(fp.title, LAB_ROUTER_TITLE)
        assert.equal(fp.server, LAB_ROUTER_SERVER)
        assert.ok(LAB_ROUTER_PRIVATE_STRINGS.length >= 3)
        for (const secret of LAB_ROUTER_PRIVATE_STRINGS) assert.ok(!fp.text.includes(secret), secret)
      } finally {
        child.kill('SIGTERM')
        const [code] = await exited
        assert.equal(code, 0)
      }
    })
  }
})
