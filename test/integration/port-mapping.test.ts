// The client's port mappings (src/client/port-mapping.ts) against a real gateway: Debian's
// miniupnpd on a lab router (src/lab/miniupnpd.ts), over NAT-PMP and over UPnP IGD. The ground
// truths are miniupnpd's netfilter rules and reachability: a mapped port is reachable from the
// internet whatever the NAT does, and not before it is mapped nor after it is removed. Root and
// network namespaces (docs/LAB.md); needs `apt-get install miniupnpd miniupnpd-iptables`.
//
//   relay-1 (the internet side, 11.0.0.1)
//   home-gw   (cone, miniupnpd on its router) ── a, b
//   home-bare (cone, no miniupnpd)            ── c
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, afterEach, before, describe, it } from 'node:test'
import type { PortMapperOptions, PortMapping, PortMappingErrorCode } from '../../src/client/port-mapping.js'
import { type Miniupnpd, type MiniupnpdMapping, startMiniupnpd } from '../../src/lab/miniupnpd.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { type LabNetwork, type RouterNode, upLabNetwork } from '../../src/lab/topology.js'

const MAPPER_URL = new URL('../../src/client/port-mapping.js', import.meta.url).href
/** Renewed at half of it: a mapping that outlives it by half a lease was renewed. */
const LEASE_SECONDS = 3

const scenario = validateScenario(
  {
    name: 'port-mapping',
    relays: 1,
    server: false,
    homes: [
      {
        name: 'home-gw',
        nat: 'cone',
        hosts: [
          { name: 'a', role: 'client', transports: ['tcp'] },
          { name: 'b', role: 'remote', transports: ['tcp'] },
        ],
      },
      { name: 'home-bare', nat: 'cone', hosts: [{ name: 'c', role: 'remote', transports: ['tcp'] }] },
    ],
  },
  'port-mapping',
)

/**
 * A client process's PortMapper, with a TCP listener and a UDP echo for the internet side to
 * reach through the mappings. JSON lines: commands on stdin, answers (with the command's id)
 * on stdout. SIGINT closes the mapper and exits 130, as the client does.
 */
const MAPPER = `
import dgram from 'node:dgram'
import net from 'node:net'
import { createInterface } from 'node:readline'
const [url, options, name, tcpPort] = process.argv.slice(1)
const { PortMapper } = await import(url)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const mapper = new PortMapper(JSON.parse(options))
const tcp = net.createServer((socket) => socket.end('tcp hello from ' + name))
await new Promise((resolve) => tcp.listen(Number(tcpPort), '0.0.0.0', resolve))
const udp = dgram.createSocket('udp4')
udp.on('message', (_, from) => udp.send('udp hello from ' + name, from.port, from.address))
await new Promise((resolve) => udp.bind(0, resolve))
process.once('SIGINT', async () => {
  await mapper.close()
  process.exit(130)
})
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, map, mappings, close } = JSON.parse(line)
  if (map) {
    const started = performance.now()
    const result = await mapper.map(map)
    const ms = performance.now() - started
    out(result instanceof Error ? { id, ms, error: { code: result.code, message: result.message } } : { id, ms, mapping: result })
  }
  if (mappings) out({ id, mappings: mapper.mappings() })
  if (close) out({ id, closed: await mapper.close() === undefined })
})
out({ ready: true, tcpPort: tcp.address().port, udpPort: udp.address().port })
`

interface Answer {
  id?: number
  ready?: boolean
  tcpPort?: number
  udpPort?: number
  ms?: number
  mapping?: PortMapping
  error?: { code: PortMappingErrorCode; message: string }
  mappings?: PortMapping[]
  closed?: boolean
}

class Mapper {
  readonly child: ChildProcess
  readonly #answers: Answer[] = []
  #waiters: (() => void)[] = []
  #stderr = ''
  #nextId = 1
  tcpPort = 0
  udpPort = 0

  /** `tcpPort`: where its TCP listener listens. @default a free port */
  constructor(lab: LabNetwork, node: string, options: PortMapperOptions, tcpPort = 0) {
    this.child = lab.spawn(
      node,
      process.execPath,
      ['--input-type=module', '-e', MAPPER, MAPPER_URL, JSON.stringify(options), node, String(tcpPort)],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PUNCHR_LOG_LEVEL: 'debug' } },
    )
    this.child.stderr!.on('data', (data: Buffer) => {
      this.#stderr += data.toString()
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#answers.push(JSON.parse(line) as Answer)
      for (const wake of this.#waiters.splice(0)) wake()
    })
  }

  async ready(): Promise<this> {
    const ready = await this.#next((a) => a.ready === true)
    this.tcpPort = ready.tcpPort!
    this.udpPort = ready.udpPort!
    return this
  }

  async map(internalPort: number, protocol: 'tcp' | 'udp'): Promise<Answer> {
    return this.#ask({ map: { internalPort, protocol } })
  }

  async mapOk(internalPort: number, protocol: 'tcp' | 'udp'): Promise<PortMapping> {
    const answer = await this.map(internalPort, protocol)
    assert.ok(
      answer.mapping,
      `mapping ${protocol} ${internalPort} failed: ${JSON.stringify(answer.error)}\n${this.log()}`,
    )
    return answer.mapping
  }

  async mappings(): Promise<PortMapping[]> {
    return (await this.#ask({ mappings: true })).mappings!
  }

  async close(): Promise<void> {
    assert.equal((await this.#ask({ close: true })).closed, true)
  }

  /** SIGINT (the mapper closes, then exits), SIGKILL after 5 s; its exit code. */
  async exit(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)))
    this.child.kill('SIGINT')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  /** Its log (pino JSON lines, debug level), for failure messages. */
  log(): string {
    return this.#stderr
  }

  async #ask(command: object): Promise<Answer> {
    const id = this.#nextId++
    this.child.stdin!.write(`${JSON.stringify({ id, ...command })}\n`)
    return this.#next((a) => a.id === id)
  }

  async #next(matches: (a: Answer) => boolean, timeoutMs = 15_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.#answers.find(matches)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms; stderr:\n${this.#stderr}`)
      if (this.child.exitCode !== null)
        throw new Error(`mapper exited with ${this.child.exitCode}:\n${this.#stderr}`)
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }
}

/** Reaches host:port over TCP or UDP from a lab node; the greeting, or undefined after `timeoutMs`. */
const PROBE = `
import dgram from 'node:dgram'
import net from 'node:net'
const [protocol, host, port, timeoutMs] = process.argv.slice(1)
const done = (reply) => { process.stdout.write(JSON.stringify({ reply })); process.exit(0) }
setTimeout(() => done(null), Number(timeoutMs))
if (protocol === 'tcp') {
  const socket = net.connect(Number(port), host)
  socket.on('data', (data) => done(data.toString()))
  socket.on('error', (err) => done('error: ' + err.code))
} else {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (data) => done(data.toString()))
  const send = () => socket.send('ping', Number(port), host)
  send()
  setInterval(send, 100)
}
`

async function probe(
  lab: LabNetwork,
  protocol: 'tcp' | 'udp',
  host: string,
  port: number,
  timeoutMs = 1_000,
): Promise<string | null> {
  const { stdout } = await lab.exec('relay-1', process.execPath, [
    '--input-type=module',
    '-e',
    PROBE,
    protocol,
    host,
    String(port),
    String(timeoutMs),
  ])
  return (JSON.parse(stdout) as { reply: string | null }).reply
}

const sorted = (list: MiniupnpdMapping[]) =>
  [...list].sort((x, y) => x.protocol.localeCompare(y.protocol) || x.externalPort - y.externalPort)
/** What the mappers hold, as miniupnpd's rules should list it. */
const asRules = (mappings: PortMapping[], internalIp: string) =>
  sorted(
    mappings.map((m) => ({
      protocol: m.protocol,
      externalPort: m.externalPort,
      internalIp,
      internalPort: m.internalPort,
    })),
  )

describe('port mappings against miniupnpd (NAT-PMP and UPnP IGD)', { timeout: 120_000 }, () => {
  let lab: LabNetwork
  let miniupnpd: Miniupnpd | undefined
  let router: RouterNode
  const mappers: Mapper[] = []
  const spawnMapper = async (node: string, options: PortMapperOptions, tcpPort?: number) => {
    const mapper = new Mapper(
      lab,
      node,
      { leaseSeconds: LEASE_SECONDS, timeoutMs: 1_000, ...options },
      tcpPort,
    )
    mappers.push(mapper)
    return mapper.ready()
  }

  before(async () => {
    lab = await upLabNetwork(scenario)
    router = lab.node('home-gw-router') as RouterNode
    miniupnpd = await startMiniupnpd({
      netns: router.netns,
      wan: router.iface,
      lan: router.lanIface,
      lanSubnet: router.lanSubnet!,
    })
  })

  // A test that failed half-way leaves no mappings to the next: SIGINT closes the mapper.
  afterEach(async () => {
    await Promise.all(mappers.splice(0).map((m) => m.exit()))
  })

  after(async () => {
    for (const m of mappers) m.child.kill('SIGKILL')
    await miniupnpd?.stop()
    await lab?.down()
  })

  const publicIp = () => router.ip!
  const rules = async () => sorted(await miniupnpd!.mappings())
  const failure = (mapper: Mapper) => `\nmapper:\n${mapper.log()}\nminiupnpd:\n${miniupnpd!.output()}`

  for (const via of ['nat-pmp', 'upnp'] as const) {
    it(`${via}: maps a TCP and a UDP port as miniupnpd lists them, reachable from the internet; renews; close() removes them`, async () => {
      const mapper = await spawnMapper('a', { protocols: [via] })
      // Before any mapping the cone NAT drops what the internet sends.
      assert.equal(await probe(lab, 'tcp', publicIp(), mapper.tcpPort, 500), null)

      const tcp = await mapper.mapOk(mapper.tcpPort, 'tcp')
      const udp = await mapper.mapOk(mapper.udpPort, 'udp')
      for (const [m, port, protocol] of [
        [tcp, mapper.tcpPort, 'tcp'],
        [udp, mapper.udpPort, 'udp'],
      ] as const) {
        assert.deepEqual(
          { ...m, expiresAt: undefined },
          {
            internalPort: port,
            // Free on the gateway, so miniupnpd keeps the port.
            externalPort: port,
            protocol,
            addr: publicIp(),
            addrNetwork: 'ip4',
            via,
            gateway: router.lanIp,
            expiresAt: undefined,
          },
        )
      }
      const held = await mapper.mappings()
      assert.deepEqual(await rules(), asRules(held, lab.ip4('a')), failure(mapper))

      // The ground truth: the mapped ports answer from the internet.
      assert.equal(await probe(lab, 'tcp', publicIp(), tcp.externalPort), 'tcp hello from a', failure(mapper))
      assert.equal(await probe(lab, 'udp', publicIp(), udp.externalPort), 'udp hello from a', failure(mapper))

      // Renewed: alive past their first lease, with later expiries (miniupnpd drops expired ones).
      const firstLeases = miniupnpd!.leases()
      await new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 1000 * 1.4))
      assert.deepEqual(await rules(), asRules(held, lab.ip4('a')), `not renewed?${failure(mapper)}`)
      const renewed = await mapper.mappings()
      for (const m of renewed) {
        const before = held.find((h) => h.protocol === m.protocol)!
        assert.ok(
          m.expiresAt! > before.expiresAt!,
          `${m.protocol} expiry ${before.expiresAt} → ${m.expiresAt}`,
        )
        const lease = (list: typeof firstLeases) => list.find((l) => l.protocol === m.protocol)!.expiresAt
        assert.ok(lease(miniupnpd!.leases()) > lease(firstLeases), 'miniupnpd has the later expiry')
      }

      await mapper.close()
      assert.deepEqual(await rules(), [], failure(mapper))
      assert.deepEqual(miniupnpd!.leases(), [])
      assert.deepEqual(await mapper.mappings(), [])
      assert.equal(await probe(lab, 'tcp', publicIp(), tcp.externalPort, 500), null)
      assert.equal((await mapper.map(mapper.tcpPort, 'tcp')).error?.code, 'closed')
    })
  }

  it('SIGINT: the mapping process removes its mappings before it exits', async () => {
    const mapper = await spawnMapper('a', {})
    const tcp = await mapper.mapOk(mapper.tcpPort, 'tcp')
    await mapper.mapOk(mapper.udpPort, 'udp')
    // Both answer; the default prefers NAT-PMP.
    assert.equal(tcp.via, 'nat-pmp')
    assert.equal((await rules()).length, 2)
    assert.equal(await mapper.exit(), 130, failure(mapper))
    assert.deepEqual(await rules(), [], failure(mapper))
  })

  it('an external port another host holds: miniupnpd gives another one (UPnP and NAT-PMP)', async () => {
    const a = await spawnMapper('a', { protocols: ['nat-pmp'] })
    const taken = await a.mapOk(a.tcpPort, 'tcp')
    const port = taken.externalPort
    for (const via of ['upnp', 'nat-pmp'] as const) {
      // b listens on the port a has on the gateway.
      const b = await spawnMapper('b', { protocols: [via] }, port)
      const tcp = await b.mapOk(port, 'tcp')
      assert.notEqual(tcp.externalPort, port, via)
      assert.equal(await probe(lab, 'tcp', publicIp(), tcp.externalPort), 'tcp hello from b', failure(b))
      assert.equal(await probe(lab, 'tcp', publicIp(), port), 'tcp hello from a', failure(b))
      // Ports are per protocol: UDP has it free.
      const udp = await b.mapOk(port, 'udp')
      assert.equal(udp.externalPort, port, via)
      const expected = sorted([...asRules([taken], lab.ip4('a')), ...asRules([tcp, udp], lab.ip4('b'))])
      assert.deepEqual(await rules(), expected, failure(b))
      await b.close()
      await b.exit() // its listener frees the port for the next b
    }
    await a.close()
    assert.deepEqual(await rules(), [])
  })

  it('no gateway: a clear error, quickly', async () => {
    const mapper = await spawnMapper('c', {})
    const answer = await mapper.map(mapper.tcpPort, 'tcp')
    assert.equal(answer.error?.code, 'no-gateway', JSON.stringify(answer))
    const gateway = (lab.node('home-bare-router') as RouterNode).lanIp!
    assert.ok(
      answer.error.message.includes(`NAT-PMP: ${gateway} does not answer NAT-PMP (port 5351 unreachable)`),
      answer.error.message,
    )
    assert.match(answer.error.message, /UPnP: no UPnP gateway answered an SSDP search within 1000 ms/)
    assert.ok(answer.ms! < 2_000, `took ${answer.ms} ms`)
    // Remembered: the next host's map() does not search again.
    const again = await mapper.map(mapper.udpPort, 'udp')
    assert.equal(again.error?.code, 'no-gateway')
    assert.ok(again.ms! < 100, `took ${again.ms} ms`)
    assert.deepEqual(await mapper.mappings(), [])
  })
})
