// `punchr honeypot` and `punchr up` as a user runs them (bin/punchr.js, embedded database):
// help and usage errors, the stdout lines the NAT lab parses, a stable identity, and `up`
// serving the whole chain — a peer recorded by its honeypot is handed out by its server.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { multiaddr } from '@multiformats/multiaddr'
import { PunchrService } from '../../src/gen/punchr_pb.js'
import { PUNCHR_BIN, punchr } from '../support/cli.js'
import { relayAddr, visitor } from '../support/dht.js'
import { newPeer } from '../support/fixtures.js'
import { hasIpv6Loopback } from '../support/ipv6.js'

const LOOPBACK_PORTS = ['--port', '0', '--http-port', '0']

interface Running {
  child: ChildProcess
  /** stdout lines up to the honeypot's metrics line. */
  lines: string[]
  stop(): Promise<{ code: number | null; stderr: string }>
}

/** Children still running: a failed assertion must not leave one that keeps the run alive. */
const running = new Set<ChildProcess>()

/** Starts `punchr <args>` and resolves once it printed `honeypot metrics on …`. */
function start(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [PUNCHR_BIN, ...args], {
    env: { ...process.env, PUNCHR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lines: string[] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no metrics line within 30 s:\n${stderr}`)), 30_000)
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${stderr}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      if (!line.startsWith('honeypot metrics on ')) return
      clearTimeout(timer)
      resolve({
        child,
        lines,
        stop: async () => {
          child.kill('SIGTERM')
          return { code: await exited, stderr }
        },
      })
    })
  })
}

/** The value after `prefix` in the one line that starts with it. */
function lineValue(lines: string[], prefix: string): string {
  const found = lines.filter((l) => l.startsWith(prefix))
  assert.equal(found.length, 1, `one line starting with "${prefix}" in:\n${lines.join('\n')}`)
  return found[0]!.slice(prefix.length)
}

const ipv6Loopback = await hasIpv6Loopback()

describe('punchr honeypot and punchr up (embedded database)', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-honeypot-cli-'))
  })
  after(() => {
    for (const child of running) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  const helps: [string, string[]][] = [
    [
      'honeypot',
      [
        '--bootstrap-peers',
        '--walk-interval',
        '--key-file',
        'PUNCHR_HONEYPOT_PORT',
        'TCP and QUIC v1',
        '--listen-host6',
      ],
    ],
    [
      'up',
      [
        '--honeypot-port',
        '--honeypot-http-port',
        '--bootstrap-peers',
        '--open-registration',
        '--honeypot-host6',
        '--filter-shares',
        'PUNCHR_UP_HOST',
      ],
    ],
  ]
  for (const [command, texts] of helps) {
    it(`${command} --help lists its flags and exits 0`, () => {
      const help = punchr([command, '--help'])
      assert.equal(help.code, 0, help.stderr)
      for (const text of texts) assert.ok(help.stdout.includes(text), `${text} in punchr ${command} --help`)
    })
  }

  it('refuses a bad --bootstrap-peers with a clear error and exit code 2', () => {
    const noPeerId = punchr(['honeypot', '--data-dir', dir, '--bootstrap-peers', '/ip4/1.2.3.4/tcp/4001'])
    assert.equal(noPeerId.code, 2)
    assert.match(
      noPeerId.stderr,
      /--bootstrap-peers: \/ip4\/1\.2\.3\.4\/tcp\/4001 does not end in \/p2p\/<peer id>/,
    )
    const notAnAddr = punchr(['up', '--data-dir', dir], {
      PUNCHR_UP_BOOTSTRAP_PEERS: 'bootstrap.example.com:4001',
    })
    assert.equal(notAnAddr.code, 2)
    assert.match(
      notAnAddr.stderr,
      /PUNCHR_UP_BOOTSTRAP_PEERS: bootstrap\.example\.com:4001 is not a multiaddr/,
    )
  })

  it('honeypot prints its lines, keeps its identity in a 0600 key file, and stops on SIGTERM', async () => {
    const keyFile = join(dir, 'keys', 'honeypot.key')
    const args = [
      'honeypot',
      '--data-dir',
      join(dir, 'hp'),
      '--key-file',
      keyFile,
      '--listen-host',
      '127.0.0.1',
    ]
    const first = await start([...args, ...LOOPBACK_PORTS, '--bootstrap-peers', ''])
    const peerId = lineValue(first.lines, 'honeypot peer ID: ')
    const listening = first.lines.filter((l) => l.startsWith('honeypot listening on '))
    // TCP and QUIC v1 (docs/PROTOCOL.md, "Honeypot": both listeners).
    assert.equal(listening.length, 2, listening.join('\n'))
    assert.match(
      listening[0]!,
      new RegExp(`^honeypot listening on /ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${peerId}$`),
    )
    assert.match(
      listening[1]!,
      new RegExp(`^honeypot listening on /ip4/127\\.0\\.0\\.1/udp/\\d+/quic-v1/p2p/${peerId}$`),
    )
    assert.match(lineValue(first.lines, 'honeypot metrics on '), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const stopped = await first.stop()
    assert.equal(stopped.code, 0, stopped.stderr)
    assert.match(stopped.stderr, /not walking the DHT/)
    assert.match(stopped.stderr, /honeypot stopped/)
    assert.equal(statSync(keyFile).mode & 0o777, 0o600)

    const again = await start([...args, ...LOOPBACK_PORTS, '--bootstrap-peers', ''])
    assert.equal(lineValue(again.lines, 'honeypot peer ID: '), peerId, 'the same identity after a restart')
    assert.equal((await again.stop()).code, 0)
  })

  it('honeypot --listen-host6 listens on IPv6 (TCP) as well', {
    skip: ipv6Loopback ? false : 'no IPv6 loopback (::1) here',
  }, async () => {
    const args = [
      'honeypot',
      '--data-dir',
      join(dir, 'hp6'),
      '--key-file',
      join(dir, 'hp6.key'),
      '--listen-host',
      '127.0.0.1',
      '--listen-host6',
      '::1',
    ]
    const honeypot = await start([...args, ...LOOPBACK_PORTS, '--bootstrap-peers', ''])
    const peerId = lineValue(honeypot.lines, 'honeypot peer ID: ')
    const listening = honeypot.lines.filter((l) => l.startsWith('honeypot listening on '))
    assert.ok(
      listening.some((l) => new RegExp(`^honeypot listening on /ip6/::1/tcp/\\d+/p2p/${peerId}$`).test(l)),
      listening.join('\n'),
    )
    assert.equal((await honeypot.stop()).code, 0)
  })

  it('up runs server and honeypot on one database: a peer its honeypot records, its server hands out', async () => {
    const data = join(dir, 'up')
    const key = punchr(['keys', 'add', '--user', 'alice', '--data-dir', data]).stdout.trim()
    const up = await start([
      'up',
      '--data-dir',
      data,
      // The visiting peer's relay is on 127.0.0.1, which a public server would not hand out.
      '--private-relay-hops',
      '--host',
      '127.0.0.1',
      ...LOOPBACK_PORTS,
      '--honeypot-port',
      '0',
      '--honeypot-http-port',
      '0',
      '--bootstrap-peers',
      '',
    ])
    const remote = await visitor({ announce: [relayAddr((await newPeer()).id)] })
    try {
      const grpc = lineValue(up.lines, 'server gRPC on ')
      assert.match(grpc, /^127\.0\.0\.1:\d+$/)
      const serverHttp = lineValue(up.lines, 'server HTTP on ')
      const honeypotHttp = lineValue(up.lines, 'honeypot metrics on ').replace(/\/metrics$/, '')
      for (const base of [serverHttp, honeypotHttp]) {
        const health = await fetch(`${base}/healthz`)
        assert.equal(health.status, 200, `${base}/healthz`)
      }
      lineValue(up.lines, 'honeypot peer ID: ')
      const honeypotAddr = up.lines
        .find((l) => l.startsWith('honeypot listening on '))!
        .split(' ')
        .at(-1)!

      await remote.dial(multiaddr(honeypotAddr))
      const client = createClient(PunchrService, createGrpcTransport({ baseUrl: `http://${grpc}` }))
      const host = await newPeer()
      await client.register({ clientId: host.bytes, agentVersion: 'punchr/go-client/0.7.0', apiKey: key })
      // The honeypot writes its batch within a second.
      let remoteId: Uint8Array | undefined
      for (let i = 0; i < 100 && remoteId === undefined; i++) {
        remoteId = await client
          .getAddrInfo({ hostId: host.bytes, allHostIds: [host.bytes], apiKey: key })
          .then((res) => res.remoteId)
          .catch(() => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)))
      }
      assert.deepEqual(remoteId, remote.peerId.toMultihash().bytes)
    } finally {
      await remote.stop()
      const stopped = await up.stop()
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.match(stopped.stderr, /honeypot stopped/)
      assert.match(stopped.stderr, /server stopped/)
    }
    assert.equal(punchr(['keys', 'list', '--data-dir', data]).code, 0, 'the data folder is unlocked again')
  })
})
