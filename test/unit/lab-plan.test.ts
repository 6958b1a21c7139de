import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatAddressTable } from '../../src/lab/address-table.js'
import { LAB_ID_PATTERN, labIdOf, MAX_IFNAME, newLabId } from '../../src/lab/names.js'
import { planLab } from '../../src/lab/plan.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { loadScenario, shippedScenarios } from '../../src/lab/scenario-file.js'

const ID = 'pl0a1b2c'

/** Every interface name a plan creates (`name X` in its `ip link add` lines). */
function interfaceNames(lines: string[]): string[] {
  return lines.flatMap((line) => [...line.matchAll(/\bname (\S+)/g)].map((m) => m[1]!))
}

describe('lab ids', () => {
  it('are pl + 6 hex digits, and recognisable in names', () => {
    const id = newLabId()
    assert.match(id, LAB_ID_PATTERN)
    assert.equal(labIdOf(`${id}-relay-1`), id)
    assert.equal(labIdOf('plain-namespace'), undefined)
    assert.equal(labIdOf(id), undefined, 'the separator belongs to the pattern')
  })
})

describe('planLab', () => {
  for (const name of shippedScenarios()) {
    it(`${name}: names carry the lab id and fit Linux's ${MAX_IFNAME} characters`, async () => {
      const plan = planLab(await loadScenario(name), ID)
      for (const ns of plan.namespaces) assert.ok(ns.startsWith(`${ID}-`), ns)
      for (const iface of interfaceNames(plan.create)) {
        assert.ok(iface.startsWith(`${ID}-`), iface)
        assert.ok(iface.length <= MAX_IFNAME, iface)
      }
      for (const version of ['ip', 'ip6'] as const) {
        const ips = plan.nodes.flatMap((n) => n[version] ?? [])
        assert.equal(new Set(ips).size, ips.length, `${version} addresses are unique`)
      }
    })
  }

  it('puts public nodes and routers on the internet and hosts behind their router', () => {
    const scenario = validateScenario({
      name: 'p',
      relays: 1,
      honeypot: true,
      homes: [
        {
          name: 'home-a',
          nat: 'cone',
          hosts: [
            { name: 'a1', role: 'client' },
            { name: 'a2', role: 'remote' },
          ],
        },
        { name: 'open', nat: 'none', hosts: [{ name: 'p1', role: 'remote' }] },
      ],
    })
    const plan = planLab(scenario, ID)
    const summary = plan.nodes.map((n) => [n.name, n.kind, n.ip, n.publicIp, n.netns])
    assert.deepEqual(summary, [
      ['server', 'server', '11.0.0.1', '11.0.0.1', `${ID}-server`],
      ['relay-1', 'relay', '11.0.0.2', '11.0.0.2', `${ID}-relay-1`],
      ['home-a-router', 'router', '11.0.0.3', '11.0.0.3', `${ID}-home-a-router`],
      ['a1', 'host', '10.1.0.2', '11.0.0.3', `${ID}-a1`],
      ['a2', 'host', '10.1.0.3', '11.0.0.3', `${ID}-a2`],
      ['p1', 'host', '11.0.0.4', '11.0.0.4', `${ID}-p1`],
    ])
    const a1 = plan.nodes.find((n) => n.name === 'a1')!
    assert.ok(a1.kind === 'host')
    assert.equal(a1.gateway, '10.1.0.1')
    assert.equal(a1.router, 'home-a-router')
    assert.deepEqual(plan.configure.get(`${ID}-a1`)!.slice(-1), ['route add default via 10.1.0.1'])
    const p1 = plan.nodes.find((n) => n.name === 'p1')!
    assert.ok(p1.kind === 'host' && p1.gateway === undefined)
    // Only internet-side namespaces have no default route: nothing can leave the lab.
    for (const ns of [`${ID}-server`, `${ID}-relay-1`, `${ID}-home-a-router`, `${ID}-p1`])
      assert.ok(!plan.configure.get(ns)!.some((l) => l.startsWith('route add default')), ns)
    assert.deepEqual([...plan.firewall.keys()], [`${ID}-home-a-router`])
    // Namespaces first, then links created directly inside them.
    const firstLink = plan.create.findIndex((l) => l.startsWith('link add'))
    assert.ok(plan.create.slice(0, firstLink).every((l) => l.startsWith('netns add')))
    assert.ok(
      plan.create.slice(firstLink).every((l) => / netns /.test(l)),
      'no link is created in the root namespace',
    )
    // IPv6 link-local addressing is off before any link comes up.
    for (const lines of plan.configure.values()) {
      for (const [i, line] of lines.entries()) {
        const up = / (\S+)(?: master \S+)? up$/.exec(line)
        if (up !== null && up[1] !== 'lo')
          assert.equal(lines[i - 1], `link set dev ${up[1]} addrgenmode none`)
      }
    }
  })

  it('prints an address table', async () => {
    const scenario = await loadScenario('cone-cone')
    const table = formatAddressTable({ id: ID, scenario, nodes: planLab(scenario, ID).nodes })
    assert.match(table, /^lab pl0a1b2c: scenario cone-cone, internet 11\.0\.0\.0\/24/)
    assert.match(
      table,
      /client-a +host +pl0a1b2c-client-a +10\.1\.0\.2\/24 +11\.0\.0\.3 +cone +client, js, tcp\+quic, via 10\.1\.0\.1/,
    )
  })
})

describe('planLab with an IPv6-only home', () => {
  const scenario = validateScenario({
    name: 'v6only',
    relays: 1,
    homes: [
      { name: 'home-a', nat: 'cone', nat6: 'firewall', hosts: [{ name: 'a', role: 'client' }] },
      { name: 'home-b', nat6: 'nat66', hosts: [{ name: 'b', role: 'remote' }] },
    ],
  })
  const plan = planLab(scenario, ID)
  const node = (name: string) => plan.nodes.find((n) => n.name === name)!

  it('gives its router and hosts no IPv4 at all, and its router IPv6 rules only', () => {
    const router = node('home-b-router')
    const host = node('b')
    assert.deepEqual(
      [router.ip, router.publicIp, host.ip, host.publicIp, router.ip6, host.ip6, host.publicIp6],
      // The router keeps its number on the internet: 11.0.0.4's IPv6 twin.
      [undefined, undefined, undefined, undefined, '2600:11::4', 'fd11:0:0:2::2', '2600:11::4'],
    )
    assert.ok(
      host.kind === 'host' && host.nat === undefined && host.nat6 === 'nat66' && host.gateway === undefined,
    )
    for (const netns of [router.netns, host.netns]) {
      const lines = plan.configure.get(netns)!
      assert.ok(!lines.some((l) => /^addr add \d+\.\d+\.\d+\.\d+\//.test(l)), `no IPv4 address in ${netns}`)
      assert.ok(!lines.some((l) => /^route add default via \d/.test(l)), `no IPv4 route in ${netns}`)
    }
    assert.ok(plan.configure.get(host.netns)!.includes('route add default via fd11:0:0:2::1'))
    assert.ok(!plan.firewall.has(router.netns), 'no iptables rules')
    assert.match(plan.firewall6.get(router.netns)!, /-j MASQUERADE$/m)
    assert.match(
      formatAddressTable({ id: ID, scenario, nodes: plan.nodes }),
      /\nb +host +pl0a1b2c-b +IPv6 only +fd11:0:0:2::2 +2600:11::4 +nat66 +remote, js, tcp\+quic$/,
    )
  })
})

describe('planLab with IPv6', () => {
  const scenario = validateScenario({
    name: 'dual',
    relays: 1,
    homes: [
      { name: 'home-a', nat: 'cone', nat6: 'firewall', hosts: [{ name: 'a', role: 'client' }] },
      { name: 'home-b', nat: 'symmetric', nat6: 'nat66-symmetric', hosts: [{ name: 'b', role: 'remote' }] },
      { name: 'home-c', nat: 'cone', hosts: [{ name: 'c', role: 'remote' }] },
      { name: 'open', nat: 'none', nat6: 'none', hosts: [{ name: 'p', role: 'remote' }] },
    ],
  })
  const plan = planLab(scenario, ID)
  const node = (name: string) => plan.nodes.find((n) => n.name === name)!

  it('gives the internet nodes internet6 addresses in step with their IPv4 ones, and homes a /64 each', () => {
    assert.equal(scenario.internet6, '2600:11::/64')
    assert.deepEqual(
      plan.nodes.map((n) => [n.name, n.ip6 ?? '-', n.publicIp6 ?? '-']),
      [
        ['server', '2600:11::1', '2600:11::1'],
        ['relay-1', '2600:11::2', '2600:11::2'],
        ['home-a-router', '2600:11::3', '2600:11::3'],
        // A firewall home's hosts have public addresses of their own.
        ['a', '2600:11:0:1::2', '2600:11:0:1::2'],
        ['home-b-router', '2600:11::4', '2600:11::4'],
        // Behind NAT66: a ULA address, seen as the router's.
        ['b', 'fd11:0:0:2::2', '2600:11::4'],
        // An IPv4-only home.
        ['home-c-router', '-', '-'],
        ['c', '-', '-'],
        ['p', '2600:11::6', '2600:11::6'],
      ],
    )
  })

  it('routes public home /64s through their router, NAT66 ones nowhere, and gives every IPv6 link a link-local address', () => {
    const relay = plan.configure.get(node('relay-1').netns)!
    assert.ok(relay.includes('route add 2600:11:0:1::/64 via 2600:11::3'))
    assert.ok(!relay.some((l) => l.includes('fd11')), 'no route to a ULA prefix')
    const host = plan.configure.get(node('a').netns)!
    assert.ok(host.includes('route add default via 2600:11:0:1::1'))
    const linkLocal = [...plan.configure.values()].flat().filter((l) => /^addr add fe80::/.test(l))
    assert.equal(new Set(linkLocal.map((l) => l.split(' ')[2])).size, linkLocal.length, 'unique')
    assert.ok(linkLocal.length >= 9)
  })

  it('writes ip6tables rules per IPv6 profile: stateful firewall, NAT66 with random ports', () => {
    const a = plan.firewall6.get(node('home-a-router').netns)!
    assert.match(a, /^:FORWARD DROP/m)
    assert.doesNotMatch(a, /MASQUERADE/)
    const b = plan.firewall6.get(node('home-b-router').netns)!
    assert.match(b, /-j MASQUERADE --random-fully$/m)
    assert.ok(!plan.firewall6.has(node('home-c-router').netns), 'an IPv4-only home has no IPv6 rules')
    assert.match(
      formatAddressTable({ id: ID, scenario, nodes: plan.nodes }),
      /internet 11\.0\.0\.0\/24 and 2600:11::\/64/,
    )
  })
})
