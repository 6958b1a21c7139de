import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { expectedOutcome, type Transport } from '../../src/lab/nat-profiles.js'
import { namespaceInode, pidsInNamespaces } from '../../src/lab/netns.js'
import { isAlive } from '../../src/lab/owners.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { type LabNetwork, upLabNetwork } from '../../src/lab/topology.js'

/**
 * The lab's network layer at the packet level: small Node programs (inline `-e` scripts using
 * dgram and net) run inside the namespaces and show that the NAT profiles behave as
 * docs/LAB.md and the ground truth say. Three home networks, because a punch needs two cone
 * hosts behind different routers besides the symmetric one:
 *
 *   relay-1, server ── internet ── cone-a router ── alice
 *                                 ├ cone-b router ── bob
 *                                 └ sym-c router  ── carol (symmetric)
 */

const skip = labUnavailableReason()
const NODE = process.execPath

const scenario = validateScenario(
  {
    name: 'lab-network-e2e',
    relays: 1,
    server: true,
    homes: [
      { name: 'cone-a', nat: 'cone', hosts: [{ name: 'alice', role: 'client' }] },
      { name: 'cone-b', nat: 'cone', hosts: [{ name: 'bob', role: 'remote' }] },
      { name: 'sym-c', nat: 'symmetric', hosts: [{ name: 'carol', role: 'remote' }] },
    ],
  },
  'lab-network-e2e',
)

// ── the programs ─────────────────────────────────────────────────────────────────────────────
// Each prints JSON lines on stdout. CommonJS, because that is what `node -e` runs.

/** On the relay: UDP observers on 7000 and 7001 and a TCP observer on 7100 answer every packet
 * with the address and port they saw it from, and log it; a stdin line `{from, to, port, msg}`
 * sends a datagram from one of the observer ports. */
const OBSERVER = `
const dgram = require('node:dgram'), net = require('node:net'), readline = require('node:readline')
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const socks = {}
let pending = 3
const ready = () => { if (--pending === 0) out({ ready: true }) }
for (const port of [7000, 7001]) {
  const s = dgram.createSocket('udp4')
  s.on('message', (msg, r) => {
    out({ event: 'udp', port, from: r.address + ':' + r.port, msg: msg.toString() })
    s.send(JSON.stringify({ address: r.address, port: r.port }), r.port, r.address)
  })
  s.bind(port, ready)
  socks[port] = s
}
net.createServer((c) => {
  out({ event: 'tcp', port: 7100, from: c.remoteAddress + ':' + c.remotePort })
  c.end(JSON.stringify({ address: c.remoteAddress, port: c.remotePort }))
}).listen(7100, '0.0.0.0', ready)
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const { from, to, port, msg } = JSON.parse(line)
  socks[from].send(msg, port, to, () => out({ sent: msg }))
})
`

/** On a host: from UDP port argv[2], asks the relay's observers on 7000 and 7001 where it is seen from. */
const UDP_PROBE = `
const dgram = require('node:dgram')
const [relay, local] = [process.argv[1], Number(process.argv[2])]
const seen = {}
const s = dgram.createSocket('udp4')
s.on('message', (msg, r) => { seen[r.port] = JSON.parse(msg.toString()) })
s.bind(local, () => {
  const tick = setInterval(() => {
    if (seen[7000] && seen[7001]) {
      clearInterval(tick)
      process.stdout.write(JSON.stringify({ local, seen }) + '\\n')
      s.close()
      return
    }
    for (const port of [7000, 7001]) if (!seen[port]) s.send('probe', port, relay)
  }, 30)
  setTimeout(() => { process.stdout.write(JSON.stringify({ local, seen, timeout: true }) + '\\n'); process.exit(0) }, 3000)
})
`

/** On a host: listens on UDP ports argv[1] (comma-separated) for argv[2] ms and reports what arrived. */
const UDP_LISTEN = `
const dgram = require('node:dgram')
const ports = process.argv[1].split(',').map(Number)
const received = []
let pending = ports.length
for (const port of ports) {
  const s = dgram.createSocket('udp4')
  s.on('message', (msg, r) => received.push({ port, from: r.address + ':' + r.port, msg: msg.toString() }))
  s.bind(port, () => { if (--pending === 0) process.stdout.write(JSON.stringify({ ready: true }) + '\\n') })
}
setTimeout(() => { process.stdout.write(JSON.stringify({ received }) + '\\n'); process.exit(0) }, Number(process.argv[2]))
`

/** Anywhere: sends argv[4] from UDP port argv[1] to argv[2]:argv[3], a few times (a lost packet is not the point). */
const UDP_SEND = `
const dgram = require('node:dgram')
const [from, to, port, msg] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3]), process.argv[4]]
const s = dgram.createSocket('udp4')
s.bind(from, async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => s.send(msg, port, to, resolve))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  s.close()
})
`

/**
 * A UDP hole punch the way DCUtR does it: learn the mapped address from the relay (first line
 * out), get the peer's mapped address on stdin, then both send to each other for argv[3] ms;
 * reports what arrived from the peer's address.
 */
const UDP_PUNCH = `
const dgram = require('node:dgram'), readline = require('node:readline')
const [relay, local, duration] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const s = dgram.createSocket('udp4')
let mapped, peer
const received = new Set()
s.on('message', (msg, r) => {
  if (r.address === relay && r.port === 7000) {
    if (!mapped) { mapped = JSON.parse(msg.toString()); out({ mapped: mapped.address + ':' + mapped.port }) }
  } else if (peer && r.address === peer.address) received.add(r.address + ':' + r.port)
})
s.bind(local, () => {
  const stun = setInterval(() => (mapped ? clearInterval(stun) : s.send('stun', 7000, relay)), 30)
})
readline.createInterface({ input: process.stdin }).once('line', (line) => {
  const [address, port] = line.trim().split(':')
  peer = { address, port: Number(port) }
  const tick = setInterval(() => s.send('punch', peer.port, peer.address), 20)
  setTimeout(() => { clearInterval(tick); out({ received: [...received] }); process.exit(0) }, duration)
})
`

/**
 * A TCP hole punch (simultaneous open): learn the mapped address from the relay's TCP observer,
 * get the peer's on stdin, connect to it from the same local port; reports whether a
 * connection came up and what the peer said on it within argv[3] ms.
 */
const TCP_PUNCH = `
const net = require('node:net'), readline = require('node:readline')
const [relay, local, duration] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const stun = net.connect({ host: relay, port: 7100, localPort: local })
let data = ''
stun.on('data', (d) => { data += d })
stun.on('end', () => { const m = JSON.parse(data); out({ mapped: m.address + ':' + m.port }) })
readline.createInterface({ input: process.stdin }).once('line', (line) => {
  const [host, port] = line.trim().split(':')
  const c = net.connect({ host, port: Number(port), localPort: local })
  let said = ''
  c.on('connect', () => c.write('hello from ' + local))
  c.on('data', (d) => { said += d; out({ connected: true, said }); process.exit(0) })
  c.on('error', (err) => { out({ connected: false, error: err.code }); process.exit(0) })
  setTimeout(() => { out({ connected: false, error: 'timeout' }); process.exit(0) }, duration)
})
`

/** What the test programs print: ad-hoc JSON, checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

/** A program running in a node of the lab; its stdout JSON lines are read one by one. */
class Program {
  readonly child: ChildProcess
  /** Every line printed so far, including those next() returned. */
  readonly history: unknown[] = []
  private readonly lines: unknown[] = []
  private waiting: ((line: unknown) => void) | undefined
  private stderr = ''

  constructor(lab: LabNetwork, node: string, script: string, args: (string | number)[] = []) {
    this.child = lab.spawn(node, NODE, ['-e', script, ...args.map(String)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const value = JSON.parse(line) as unknown
      this.history.push(value)
      if (this.waiting === undefined) this.lines.push(value)
      else {
        const resolve = this.waiting
        this.waiting = undefined
        resolve(value)
      }
    })
  }

  /** The next JSON line; fails after `timeoutMs` with the program's stderr. */
  next(timeoutMs = 5_000): Promise<Json> {
    const queued = this.lines.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no output within ${timeoutMs} ms; stderr: ${this.stderr}`)),
        timeoutMs,
      )
      this.waiting = (line) => {
        clearTimeout(timer)
        resolve(line)
      }
    })
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`)
  }
}

/** Runs a program to its first line of output. */
function run(lab: LabNetwork, node: string, script: string, args: (string | number)[] = []): Promise<Json> {
  return new Program(lab, node, script, args).next()
}

/** Two punch programs that swap their mapped addresses; resolves with both final reports. */
async function punch(
  lab: LabNetwork,
  script: string,
  a: string,
  b: string,
  port: number,
  ms: number,
): Promise<Json[]> {
  const relay = lab.ip4('relay-1')
  const [pa, pb] = [
    new Program(lab, a, script, [relay, port, ms]),
    new Program(lab, b, script, [relay, port, ms]),
  ]
  const [ma, mb] = await Promise.all([pa.next(), pb.next()])
  pa.send(mb.mapped)
  pb.send(ma.mapped)
  return Promise.all([pa.next(ms + 5_000), pb.next(ms + 5_000)])
}

/** The measured outcome beside the ground truth for the pair and transport. */
function verdict(lab: LabNetwork, a: string, b: string, transport: Transport, success: boolean) {
  return {
    measured: success ? 'SUCCESS' : 'FAILED',
    expected: expectedOutcome(lab.nat(a), lab.nat(b), transport),
  }
}

// ── the tests ────────────────────────────────────────────────────────────────────────────────

describe('lab network (packet level)', { skip, timeout: 60_000 }, () => {
  let lab: LabNetwork
  let observer: Program

  const observed = () => observer.history as Json[]

  before(async () => {
    lab = await upLabNetwork(scenario)
    observer = new Program(lab, 'relay-1', OBSERVER)
    assert.deepEqual(await observer.next(), { ready: true })
  })

  after(async () => {
    // The tests below check teardown themselves; this is for a failure half-way.
    await lab?.down()
  })

  const wan = (home: string) => lab.ip4(`${home}-router`)

  it('hosts behind every router reach the relay', async (t) => {
    t.diagnostic(`lab ${lab.id} with ${lab.namespaces.length} namespaces up in ${lab.upMs.toFixed(0)} ms`)
    const relay = lab.ip4('relay-1')
    const probes = await Promise.all(
      ['alice', 'bob', 'carol'].map((h) => run(lab, h, UDP_PROBE, [relay, 40000])),
    )
    for (const p of probes) assert.equal(p.timeout, undefined, JSON.stringify(p))
  })

  it('cone: the relay sees the router WAN address and the host port, the same for every destination', async () => {
    const relay = lab.ip4('relay-1')
    const probe = await run(lab, 'alice', UDP_PROBE, [relay, 40001])
    assert.deepEqual(probe.seen, {
      7000: { address: wan('cone-a'), port: 40001 },
      7001: { address: wan('cone-a'), port: 40001 },
    })
    const logged = observed().filter((o) => o.event === 'udp' && o.from.startsWith(`${wan('cone-a')}:`))
    assert.ok(logged.some((o) => o.from === `${wan('cone-a')}:40001`))
    const tcp = await run(lab, 'alice', TCP_PUNCH, [relay, 41001, 1])
    assert.equal(tcp.mapped, `${wan('cone-a')}:41001`, 'TCP is port-preserving too')
  })

  it('symmetric: a different external port for every destination', async () => {
    const relay = lab.ip4('relay-1')
    const probe = await run(lab, 'carol', UDP_PROBE, [relay, 40002])
    assert.equal(probe.seen[7000].address, wan('sym-c'))
    assert.equal(probe.seen[7001].address, wan('sym-c'))
    assert.notEqual(probe.seen[7000].port, probe.seen[7001].port, JSON.stringify(probe.seen))
  })

  it('unsolicited inbound packets do not reach the host; replies from the exact endpoint do', async () => {
    const relay = lab.ip4('relay-1')
    const aliceWan = wan('cone-a')
    // alice:40003 has talked to relay:7000 and relay:7001 (a mapping exists); 40004 never sent anything.
    await run(lab, 'alice', UDP_PROBE, [relay, 40003])
    const listener = new Program(lab, 'alice', UDP_LISTEN, ['40003,40004', 800])
    assert.deepEqual(await listener.next(), { ready: true })
    observer.send(
      JSON.stringify({ from: 7000, to: aliceWan, port: 40003, msg: 'reply from the mapped endpoint' }),
    )
    const senders = [
      lab.exec('relay-1', NODE, ['-e', UDP_SEND, '7002', aliceWan, '40003', 'same address, other port']),
      lab.exec('server', NODE, ['-e', UDP_SEND, '7000', aliceWan, '40003', 'other address, same port']),
      lab.exec('relay-1', NODE, ['-e', UDP_SEND, '7003', aliceWan, '40004', 'to a port with no mapping']),
    ]
    await Promise.all(senders)
    const { received } = await listener.next()
    const messages = new Set(received.map((r: { msg: string }) => r.msg))
    assert.deepEqual([...messages], ['reply from the mapped endpoint'])
    assert.ok(
      received.every((r: { from: string; port: number }) => r.from === `${relay}:7000` && r.port === 40003),
    )
  })

  it('a UDP hole punch succeeds between two cone hosts and fails between cone and symmetric', async () => {
    const [[a1, b1], [a2, c2]] = await Promise.all([
      punch(lab, UDP_PUNCH, 'alice', 'bob', 42000, 1_000),
      punch(lab, UDP_PUNCH, 'alice', 'carol', 42001, 1_000),
    ])
    assert.deepEqual(a1.received, [`${wan('cone-b')}:42000`], 'alice hears bob from his advertised port')
    assert.deepEqual(b1.received, [`${wan('cone-a')}:42000`])
    assert.deepEqual(a2.received, [], 'carol sends from a fresh port, which alice never sent to')
    assert.deepEqual(c2.received, [], "alice's packets hit a port carol's router mapped for the relay only")
    const cc = verdict(lab, 'alice', 'bob', 'quic', a1.received.length > 0 && b1.received.length > 0)
    const cs = verdict(lab, 'alice', 'carol', 'quic', a2.received.length > 0 && c2.received.length > 0)
    assert.equal(cc.measured, cc.expected)
    assert.equal(cs.measured, cs.expected)
  })

  it('a TCP simultaneous open succeeds between two cone hosts and fails between cone and symmetric', async () => {
    const [[a1, b1], [a2, c2]] = await Promise.all([
      punch(lab, TCP_PUNCH, 'alice', 'bob', 43000, 2_000),
      punch(lab, TCP_PUNCH, 'alice', 'carol', 43001, 2_000),
    ])
    assert.deepEqual(
      [a1, b1],
      [
        { connected: true, said: 'hello from 43000' },
        { connected: true, said: 'hello from 43000' },
      ],
    )
    assert.equal(a2.connected, false, JSON.stringify(a2))
    assert.equal(c2.connected, false, JSON.stringify(c2))
    const cc = verdict(lab, 'alice', 'bob', 'tcp', a1.connected && b1.connected)
    const cs = verdict(lab, 'alice', 'carol', 'tcp', a2.connected && c2.connected)
    assert.equal(cc.measured, cc.expected)
    assert.equal(cs.measured, cs.expected)
  })

  it('down() removes every namespace and process, and can be called again', async (t) => {
    const inodes = new Set(lab.namespaces.map(namespaceInode).filter((i) => i !== undefined))
    assert.equal(inodes.size, lab.namespaces.length)
    const pids = pidsInNamespaces(inodes)
    assert.ok(pids.includes(observer.child.pid!), 'the observer runs inside the lab')
    const started = performance.now()
    await lab.down()
    const downMs = performance.now() - started
    t.diagnostic(`lab ${lab.id} down in ${downMs.toFixed(0)} ms`)
    const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    assert.ok(!listed.includes(lab.id), listed)
    // By pid: the inode numbers of destroyed namespaces are reused by new ones.
    assert.deepEqual(pids.filter(isAlive), [], 'every process that ran in the lab has ended')
    assert.ok(
      observer.child.exitCode !== null || observer.child.signalCode !== null,
      'the observer has exited',
    )
    await lab.down()
    assert.throws(() => lab.spawn('alice', 'true'), /is down/)
  })
})

/** Accepts TCP connections on argv[1] and closes them (a client's reset is no error here). */
const ACCEPTOR = `
const net = require('node:net')
net.createServer((c) => { c.on('error', () => {}); c.end() })
  .listen(Number(process.argv[1]), () => process.stdout.write(JSON.stringify({ ready: true }) + '\\n'))
`

/** Connects to argv[1]:argv[2] over TCP argv[3] times; prints the handshake times in ms. */
const CONNECT_TIMES = `
const net = require('node:net')
const [host, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
const times = []
const once = () => {
  const started = process.hrtime.bigint()
  const c = net.connect({ host, port }, () => {
    times.push(Number(process.hrtime.bigint() - started) / 1e6)
    c.destroy()
    if (times.length === count) process.stdout.write(JSON.stringify({ times }) + '\\n')
    else once()
  })
  c.on('error', (err) => { process.stdout.write(JSON.stringify({ error: err.code }) + '\\n'); process.exit(0) })
}
once()
`

describe('lab latency: a home router that delays what it forwards', { skip, timeout: 120_000 }, () => {
  const DELAY_MS = 25
  let lab: LabNetwork

  before(async () => {
    lab = await upLabNetwork(
      validateScenario(
        {
          name: 'lab-latency-e2e',
          relays: 1,
          homes: [
            { name: 'slow', nat: 'cone', delayMs: DELAY_MS, hosts: [{ name: 'dave', role: 'client' }] },
            { name: 'fast', nat: 'cone', hosts: [{ name: 'erin', role: 'client' }] },
          ],
        },
        'lab-latency-e2e',
      ),
    )
  })
  after(() => lab?.down())

  it('adds its delay each way to a round trip through it, and nothing to the others', async () => {
    const acceptor = new Program(lab, 'relay-1', ACCEPTOR, [7200])
    assert.deepEqual(await acceptor.next(), { ready: true })
    const relay = lab.ip4('relay-1')
    const [slow, fast] = await Promise.all([
      new Program(lab, 'dave', CONNECT_TIMES, [relay, 7200, 5]).next(10_000),
      new Program(lab, 'erin', CONNECT_TIMES, [relay, 7200, 5]).next(10_000),
    ])
    assert.ok(Array.isArray(slow.times) && Array.isArray(fast.times), JSON.stringify({ slow, fast }))
    for (const ms of slow.times as number[]) {
      assert.ok(ms >= 2 * DELAY_MS, `${ms} ms through the delayed router, expected ≥ ${2 * DELAY_MS}`)
      assert.ok(ms < 2 * DELAY_MS + 40, `${ms} ms: far more than the delay`)
    }
    for (const ms of fast.times as number[]) assert.ok(ms < DELAY_MS, `${ms} ms through the undelayed router`)
  })

  it('runs one net-delay per delayed router, which the teardown stops with the rest', async () => {
    const inodes = new Set([namespaceInode(lab.node('slow-router').netns)!])
    assert.equal(pidsInNamespaces(inodes).length, 1, 'net-delay in the delayed router')
    assert.equal(pidsInNamespaces(new Set([namespaceInode(lab.node('fast-router').netns)!])).length, 0)
    const pids = pidsInNamespaces(inodes)
    await lab.down()
    for (const pid of pids) assert.equal(isAlive(pid), false)
  })
})

describe('lab network: an IPv6-only home', { skip, timeout: 60_000 }, () => {
  let lab: LabNetwork

  before(async () => {
    lab = await upLabNetwork(
      validateScenario(
        {
          name: 'lab-ipv6-only-e2e',
          relays: 1,
          homes: [{ name: 'v6', nat6: 'firewall', hosts: [{ name: 'frank', role: 'client' }] }],
        },
        'lab-ipv6-only-e2e',
      ),
    )
  })
  after(() => lab?.down())

  it('its host has no IPv4 beyond loopback, reaches the relay over IPv6 and cannot over IPv4', async () => {
    const { stdout } = await lab.exec('frank', 'ip', ['-4', '-o', 'addr', 'show'])
    assert.deepEqual(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[3]),
      ['127.0.0.1/8'],
    )
    const acceptor = new Program(lab, 'relay-1', ACCEPTOR, [7300])
    assert.deepEqual(await acceptor.next(), { ready: true })
    const relay6 = lab.node('relay-1').ip6!
    const over6 = await new Program(lab, 'frank', CONNECT_TIMES, [relay6, 7300, 2]).next(10_000)
    assert.ok(Array.isArray(over6.times), JSON.stringify(over6))
    const over4 = await new Program(lab, 'frank', CONNECT_TIMES, [lab.ip4('relay-1'), 7300, 1]).next(10_000)
    assert.equal(over4.error, 'ENETUNREACH')
  })
})
