// A QUIC hole punch with our transport between hosts behind the NAT lab's real Linux NATs
// (root, network namespaces; see docs/LAB.md), the way DCUtR does it for QUIC: the remote B
// sprays UDP at A's public address from its QUIC socket while A dials B's public address
// from its listening socket. No relay and no DCUtR here: the addresses are the lab's ground
// truth, so what is tested is the transport's part of the punch.
//
//   home-a (cone) ── a          home-c (symmetric) ── c
//   home-b (cone) ── b          home-d (cone)      ── d
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { validateScenario } from '../../src/lab/scenario.js'
import { type LabNetwork, upLabNetwork } from '../../src/lab/topology.js'

const QUIC_PORT = 4001
const TRANSPORT_URL = new URL('../../src/quic/transport.js', import.meta.url).href

const scenario = validateScenario(
  {
    name: 'quic-lab',
    relays: 1,
    server: false,
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client', transports: ['quic'] }] },
      { name: 'home-b', nat: 'cone', hosts: [{ name: 'b', role: 'remote', transports: ['quic'] }] },
      { name: 'home-c', nat: 'symmetric', hosts: [{ name: 'c', role: 'remote', transports: ['quic'] }] },
      { name: 'home-d', nat: 'cone', hosts: [{ name: 'd', role: 'remote', transports: ['quic'] }] },
    ],
  },
  'quic-lab',
)

/**
 * A js-libp2p host with our QUIC transport on 0.0.0.0:4001. Prints `{ready, peerId}`, then a
 * line per connection; on stdin `{spray: {host, port, count, gapMs}}` sends random datagrams
 * from its QUIC socket, `{dial, timeoutMs}` dials and prints how it went.
 */
const HOST = `
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
const { quicTransport } = await import(process.argv[1])
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const quic = quicTransport()
const node = await createLibp2p({ addresses: { listen: ['/ip4/0.0.0.0/udp/${QUIC_PORT}/quic-v1'] }, transports: [quic] })
node.addEventListener('connection:open', (e) => out({ connection: e.detail.remoteAddr.toString(), direction: e.detail.direction }))
createInterface({ input: process.stdin }).on('line', async (line) => {
  const command = JSON.parse(line)
  if (command.spray) {
    const { host, port, count, gapMs } = command.spray
    for (let i = 0; i < count; i++) {
      await quic.socket.sendDatagram(crypto.getRandomValues(new Uint8Array(64)), host, port)
      await new Promise((resolve) => setTimeout(resolve, gapMs))
    }
  }
  if (command.dial) {
    const started = performance.now()
    try {
      const c = await node.dial(multiaddr(command.dial), { signal: AbortSignal.timeout(command.timeoutMs) })
      out({ dialed: true, ms: performance.now() - started, remoteAddr: c.remoteAddr.toString() })
    } catch (err) {
      out({ dialed: false, ms: performance.now() - started, error: err.message })
    }
  }
})
out({ ready: true, peerId: node.peerId.toString(), port: quic.socket.port })
`

interface Line {
  ready?: boolean
  peerId?: string
  port?: number
  connection?: string
  direction?: string
  dialed?: boolean
  ms?: number
  remoteAddr?: string
  error?: string
}

/** HOST running in a node of the lab, its JSON lines read one at a time. */
class Host {
  readonly child: ChildProcess
  readonly #lines: Line[] = []
  // Lines before this one were taken by next() already.
  #cursor = 0
  #stderr = ''
  #waiters: (() => void)[] = []

  constructor(lab: LabNetwork, node: string) {
    this.child = lab.spawn(node, process.execPath, ['--input-type=module', '-e', HOST, TRANSPORT_URL], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.child.stderr!.on('data', (data: Buffer) => {
      this.#stderr += data.toString()
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#lines.push(JSON.parse(line) as Line)
      for (const wake of this.#waiters.splice(0)) wake()
    })
  }

  send(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`)
  }

  /** The next line that matches, skipping others. */
  async next(matches: (line: Line) => boolean, timeoutMs = 20_000): Promise<Line> {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const index = this.#lines.findIndex((line, i) => i >= this.#cursor && matches(line))
      if (index !== -1) {
        this.#cursor = index + 1
        return this.#lines[index]!
      }
      if (Date.now() > deadline)
        throw new Error(`no such line within ${timeoutMs} ms; stderr:\n${this.#stderr}`)
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }
}

describe('a QUIC hole punch through the lab’s NATs', { timeout: 120_000 }, () => {
  let lab: LabNetwork
  const hosts = new Map<string, Host & { peerId: string }>()
  const publicAddr = (name: string) =>
    `/ip4/${lab.node(name).publicIp}/udp/${QUIC_PORT}/quic-v1/p2p/${hosts.get(name)!.peerId}`

  before(async () => {
    lab = await upLabNetwork(scenario)
    for (const name of ['a', 'b', 'c', 'd']) {
      const host = new Host(lab, name)
      const ready = await host.next((line) => line.ready === true)
      assert.equal(ready.port, QUIC_PORT)
      hosts.set(name, Object.assign(host, { peerId: ready.peerId! }))
    }
  })

  after(async () => {
    await lab?.down()
  })

  /** B sprays at A's public address while A dials B's, as DCUtR's SYNC starts both at once. */
  async function punch(a: string, b: string): Promise<Line> {
    hosts.get(b)!.send({ spray: { host: lab.node(a).publicIp, port: QUIC_PORT, count: 20, gapMs: 10 } })
    hosts.get(a)!.send({ dial: publicAddr(b), timeoutMs: 3_000 })
    return hosts.get(a)!.next((line) => line.dialed !== undefined)
  }

  it('connects two cone NATs; each side sees the other at its listening port', async (t) => {
    const result = await punch('a', 'b')
    assert.equal(result.dialed, true, result.error)
    t.diagnostic(`connected in ${result.ms?.toFixed(1)} ms`)
    assert.equal(result.remoteAddr, publicAddr('b'))
    // B's side of the connection: A came from its public address and its listening port.
    const inbound = await hosts.get('b')!.next((line) => line.direction === 'inbound')
    assert.equal(inbound.connection, publicAddr('a'))
  })

  it('fails through a symmetric NAT, whose spray leaves from another port', async () => {
    const result = await punch('a', 'c')
    assert.equal(result.dialed, false)
  })

  it('fails between cone NATs when nobody sprays: the punch packets are what opens the way', async () => {
    hosts.get('a')!.send({ dial: publicAddr('d'), timeoutMs: 3_000 })
    const result = await hosts.get('a')!.next((line) => line.dialed !== undefined)
    assert.equal(result.dialed, false)
  })
})
