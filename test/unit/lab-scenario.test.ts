import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SLOW_RELAY_DELAY_MS } from '../../src/lab/behaviours.js'
import { expectedFor } from '../../src/lab/expectations.js'
import { formatIPv4, NON_PUBLIC_RANGES, parseCidr, size } from '../../src/lab/ipv4.js'
import {
  expectedOutcome,
  expectedOutcome6,
  NAT_PROFILES,
  NAT_TYPES,
  routerRules,
  slowLinkRules,
  TRANSPORTS,
} from '../../src/lab/nat-profiles.js'
import { planLab } from '../../src/lab/plan.js'
import { ScenarioError, type ScenarioIssue, validateScenario } from '../../src/lab/scenario.js'
import { loadScenario, parseScenarioText, shippedScenarios } from '../../src/lab/scenario-file.js'
import { ConfigError } from '../../src/lib/errors.js'
import { isPublicIp } from '../../src/lib/multiaddr.js'

/** A valid scenario document; tests change one field at a time. */
function base(): Record<string, unknown> {
  return {
    name: 'test',
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'alice', role: 'client' }] },
      { name: 'home-b', nat: 'symmetric', hosts: [{ name: 'bob', role: 'remote' }] },
    ],
  }
}

function issuesOf(input: unknown): ScenarioIssue[] {
  try {
    validateScenario(input, 'test.json')
  } catch (err) {
    assert.ok(err instanceof ScenarioError, `expected a ScenarioError, got ${err}`)
    assert.ok(err instanceof ConfigError, 'the CLI shows ConfigErrors without a stack')
    return err.issues
  }
  assert.fail('the scenario was accepted')
}

function assertIssue(input: unknown, path: string, reason: RegExp): void {
  const issues = issuesOf(input)
  const hit = issues.find((i) => i.path === path)
  assert.ok(hit !== undefined, `no issue at ${path}; issues: ${JSON.stringify(issues)}`)
  assert.match(hit.reason, reason)
}

function withHome(home: Record<string, unknown>, index = 0): Record<string, unknown> {
  const s = base()
  const homes = s.homes as Record<string, unknown>[]
  homes[index] = { ...homes[index], ...home }
  return s
}

function withHost(host: Record<string, unknown>): Record<string, unknown> {
  const s = base()
  const home = (s.homes as Record<string, unknown>[])[0]!
  home.hosts = [{ ...(home.hosts as Record<string, unknown>[])[0], ...host }]
  return s
}

describe('validateScenario', () => {
  it('fills in the defaults', () => {
    const s = validateScenario(base())
    assert.equal(s.internet, '11.0.0.0/24')
    assert.deepEqual(s.relays, ['relay-1'])
    assert.equal(s.server, true)
    assert.equal(s.honeypot, true, 'the honeypot runs with the server by default')
    assert.deepEqual(s.bootstrap, [])
    assert.equal(s.rounds, 1)
    assert.equal(s.durationSeconds, undefined)
    assert.deepEqual(s.expect, [])
    assert.deepEqual(s.homes[0]!.hosts[0], {
      name: 'alice',
      role: 'client',
      impl: 'js',
      transports: ['tcp', 'quic'],
    })
  })

  it('takes a router delay, a Go client (TCP by default) and go bootstrap peers', () => {
    const s = validateScenario({
      ...withHost({ impl: 'go' }),
      bootstrap: 4,
      bootstrapImpl: 'go',
    })
    assert.equal(s.bootstrapImpl, 'go')
    assert.deepEqual(s.homes[0]!.hosts[0]!.transports, ['tcp'])
    assert.equal(validateScenario(withHome({ delayMs: 20 })).homes[0]!.delayMs, 20)
    assert.equal(validateScenario(base()).homes[1]!.delayMs, 0)
    assert.equal(validateScenario(base()).bootstrapImpl, 'js')
  })

  it('turns counts into names and keeps named lists', () => {
    const s = validateScenario({ ...base(), relays: 3, bootstrap: ['boot-x', 'boot-y'] })
    assert.deepEqual(s.relays, ['relay-1', 'relay-2', 'relay-3'])
    assert.deepEqual(s.bootstrap, ['boot-x', 'boot-y'])
  })

  it('accepts port-restricted as another name of cone', () => {
    assert.equal(validateScenario(withHome({ nat: 'port-restricted' })).homes[0]!.nat, 'cone')
  })

  it('normalises the internet subnet', () => {
    assert.equal(validateScenario({ ...base(), internet: ' 11.2.0.0/16 ' }).internet, '11.2.0.0/16')
  })

  const cases: [string, Record<string, unknown> | unknown, string, RegExp][] = [
    ['not an object', [], '', /must be an object/],
    ['unknown top-level field', { ...base(), relay: 1 }, 'relay', /unknown field \(known: name,/],
    ['missing name', { ...base(), name: undefined }, 'name', /is required/],
    ['bad name', { ...base(), name: 'Has Space' }, 'name', /not a valid name/],
    ['reserved name', { ...base(), relays: ['internet'] }, 'relays[0]', /reserved/],
    ['internet not a CIDR', { ...base(), internet: '11.0.0.0' }, 'internet', /not an IPv4 CIDR/],
    [
      'internet host bits',
      { ...base(), internet: '11.0.0.7/24' },
      'internet',
      /did you mean 11\.0\.0\.0\/24/,
    ],
    [
      'internet too small',
      { ...base(), internet: '11.0.0.0/30' },
      'internet',
      /2 usable addresses, the scenario needs 4/,
    ],
    ['internet prefix', { ...base(), internet: '11.0.0.0/31' }, 'internet', /from 8 to 30/],
    ['relays negative', { ...base(), relays: -1 }, 'relays', /count from 0 to 100/],
    ['relays bad entry', { ...base(), relays: ['ok', 7] }, 'relays[1]', /must be a name/],
    ['server not boolean', { ...base(), server: 'yes' }, 'server', /true or false/],
    ['honeypot not boolean', { ...base(), honeypot: 1 }, 'honeypot', /true or false/],
    [
      'honeypot without server',
      { ...base(), server: false, honeypot: true },
      'honeypot',
      /needs server: true/,
    ],
    ['missing homes', { name: 'x' }, 'homes', /is required/],
    ['empty homes', { ...base(), homes: [] }, 'homes', /at least one/],
    ['home not an object', { ...base(), homes: ['a'] }, 'homes[0]', /must be an object/],
    ['home unknown field', withHome({ router: 'x' }), 'homes[0].router', /unknown field/],
    [
      'missing nat',
      withHome({ nat: undefined }),
      'homes[0].nat',
      /is required: one of none, cone, symmetric/,
    ],
    [
      'unknown nat',
      withHome({ nat: 'fancy' }),
      'homes[0].nat',
      /must be one of none, cone, symmetric, port-restricted/,
    ],
    [
      'restricted nat',
      withHome({ nat: 'restricted' }),
      'homes[0].nat',
      /cannot be built with iptables.*conntrack/,
    ],
    ['full-cone nat', withHome({ nat: 'full-cone' }), 'homes[0].nat', /endpoint-independent filtering/],
    ['missing hosts', withHome({ hosts: undefined }), 'homes[0].hosts', /is required/],
    ['empty hosts', withHome({ hosts: [] }), 'homes[0].hosts', /at least one host/],
    ['duplicate home', withHome({ name: 'home-a' }, 1), 'homes[1].name', /defined twice/],
    [
      'missing role',
      withHost({ role: undefined }),
      'homes[0].hosts[0].role',
      /is required: one of remote, client/,
    ],
    ['bad role', withHost({ role: 'server' }), 'homes[0].hosts[0].role', /must be one of remote, client/],
    ['bad impl', withHost({ impl: 'python' }), 'homes[0].hosts[0].impl', /must be one of js, go, rust/],
    [
      'bad transport',
      withHost({ transports: ['udp'] }),
      'homes[0].hosts[0].transports[0]',
      /one of tcp, quic/,
    ],
    ['twice transport', withHost({ transports: ['tcp', 'tcp'] }), 'homes[0].hosts[0].transports[1]', /twice/],
    ['no transports', withHost({ transports: [] }), 'homes[0].hosts[0].transports', /at least one/],
    [
      'host named like a relay',
      withHost({ name: 'relay-1' }),
      'homes[0].hosts[0].name',
      /already the name of relays\[0\]/,
    ],
    [
      'host named like a router',
      withHost({ name: 'home-b-router' }),
      "homes[1].name (its router 'home-b-router')",
      /already the name of homes\[0\]\.hosts\[0\]/,
    ],
    ['rounds not whole', { ...base(), rounds: 1.5 }, 'rounds', /positive whole number/],
    ['duration negative', { ...base(), durationSeconds: -3 }, 'durationSeconds', /positive number/],
    ['rounds and duration', { ...base(), rounds: 2, durationSeconds: 60 }, 'durationSeconds', /not both/],
    ['expect not a list', { ...base(), expect: {} }, 'expect', /must be a list/],
    [
      'expect missing outcome',
      { ...base(), expect: [{ client: 'alice' }] },
      'expect[0].outcome',
      /is required/,
    ],
    [
      'expect bad outcome',
      { ...base(), expect: [{ outcome: 'MAYBE' }] },
      'expect[0].outcome',
      /SUCCESS, FAILED, NO_CONNECTION/,
    ],
    [
      'expect unknown host',
      { ...base(), expect: [{ client: 'carol', outcome: 'FAILED' }] },
      'expect[0].client',
      /neither a host nor a home/,
    ],
    [
      'expect wrong role',
      { ...base(), expect: [{ client: 'bob', outcome: 'FAILED' }] },
      'expect[0].client',
      /is a remote, not a client/,
    ],
    [
      'expect home without role',
      { ...base(), expect: [{ remote: 'home-a', outcome: 'FAILED' }] },
      'expect[0].remote',
      /has no remote host/,
    ],
    [
      'expect bad transport',
      { ...base(), expect: [{ transport: 'udp', outcome: 'FAILED' }] },
      'expect[0].transport',
      /tcp, quic/,
    ],
    ['a negative delay', withHome({ delayMs: -1 }), 'homes[0].delayMs', /from 0 to 1000/],
    ['a fractional delay', withHome({ delayMs: 2.5 }), 'homes[0].delayMs', /whole number/],
    ['a delay past a second', withHome({ delayMs: 1001 }), 'homes[0].delayMs', /from 0 to 1000/],
    ['a delay without a router', withHome({ nat: 'none', delayMs: 5 }), 'homes[0].delayMs', /no router/],
    ['a Rust client', withHost({ impl: 'rust' }), 'homes[0].hosts[0].impl', /no Rust punchr client/],
    [
      'a Go client over QUIC',
      withHost({ impl: 'go', transports: ['tcp', 'quic'] }),
      'homes[0].hosts[0].transports',
      /QUIC draft-29 only/,
    ],
    ['an unknown bootstrap implementation', { ...base(), bootstrapImpl: 'rust' }, 'bootstrapImpl', /js, go/],
  ]
  for (const [title, input, path, reason] of cases) {
    it(`rejects ${title} at '${path}'`, () => assertIssue(input, path, reason))
  }

  it('reports every problem at once, each with its path, in the message too', () => {
    const input = { ...withHost({ role: 'boss' }), internet: '10.0.0.0/24', rounds: 0 }
    let message = ''
    try {
      validateScenario(input, 'broken.json')
    } catch (err) {
      message = (err as Error).message
    }
    assert.match(message, /^invalid scenario broken\.json:/)
    assert.match(message, /- homes\[0\]\.hosts\[0\]\.role: must be one of remote, client, not "boss"/)
    assert.match(message, /- internet: 10\.0\.0\.0\/24 overlaps 10\.0\.0\.0\/8/)
    assert.match(message, /- rounds: must be a positive whole number/)
  })

  describe('refuses an internet that libp2p would treat as private', () => {
    const privateRanges = [
      '198.18.0.0/15',
      '198.19.0.0/16',
      '100.64.0.0/10',
      '100.100.0.0/24',
      '192.0.2.0/24',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4',
      '10.0.0.0/8',
      '192.168.1.0/24',
      '172.16.0.0/12',
      '172.0.0.0/8', // contains 172.16/12
      '127.0.0.0/8',
      '169.254.0.0/16',
      '224.0.0.0/24',
    ]
    for (const cidr of privateRanges) {
      it(cidr, () =>
        assertIssue({ ...base(), internet: cidr }, 'internet', /libp2p treats as private: DCUtR would/),
      )
    }
    it('and accepts public ranges', () => {
      for (const cidr of ['11.0.0.0/24', '11.0.0.0/8', '1.2.3.0/24', '198.20.0.0/16', '100.128.0.0/16'])
        assert.equal(validateScenario({ ...base(), internet: cidr }).internet, cidr)
    })
  })

  it('keeps its private ranges in step with the multiaddr classification of src/lib', () => {
    for (const range of NON_PUBLIC_RANGES) {
      const cidr = parseCidr(range.cidr)!
      for (const ip of [cidr.base, cidr.base + size(cidr) - 1])
        assert.equal(isPublicIp(formatIPv4(ip)), false, `${formatIPv4(ip)} of ${range.cidr}`)
    }
    assert.equal(isPublicIp('11.0.0.1'), true)
  })
})

describe('shipped scenarios', () => {
  it('are there', () => {
    for (const name of ['cone-cone', 'cone-symmetric', 'matrix'])
      assert.ok(shippedScenarios().includes(name), name)
  })
  for (const name of shippedScenarios()) {
    it(`${name} is valid`, async () => {
      const s = await loadScenario(name)
      assert.equal(s.name, name)
    })
  }
})

describe('scenario files', () => {
  it('reports a JSON syntax error as a scenario error', async () => {
    await assert.rejects(
      parseScenarioText('{ "name": ', 'json', 'x.json'),
      /invalid scenario x\.json:\n {2}- \(scenario\): not valid JSON/,
    )
  })

  it('parses YAML when the yaml package is installed, and says how to get it otherwise', async () => {
    try {
      assert.deepEqual(await parseScenarioText('name: x\nrelays: 2\n', 'yaml', 'x.yaml'), {
        name: 'x',
        relays: 2,
      })
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      assert.match(err.message, /needs the 'yaml' package.*npm install yaml/)
    }
  })

  it('names the shipped scenarios when a file is missing', async () => {
    await assert.rejects(loadScenario('no-such-scenario'), /no scenario file no-such-scenario; .*cone-cone/)
  })
})

describe('NAT profiles and the ground truth', () => {
  // RFC 4787 vocabulary; see the docs/LAB.md table, which says the same.
  it('documents mapping and filtering per profile', () => {
    assert.deepEqual(
      NAT_TYPES.map((t) => [
        t,
        NAT_PROFILES[t].mapping,
        NAT_PROFILES[t].filtering,
        NAT_PROFILES[t].portPreserving,
      ]),
      [
        ['none', undefined, undefined, true],
        ['cone', 'endpoint-independent', 'address-and-port-dependent', true],
        ['symmetric', 'address-and-port-dependent', 'address-and-port-dependent', false],
      ],
    )
  })

  const table: [string, string, 'SUCCESS' | 'FAILED'][] = [
    ['none', 'none', 'SUCCESS'],
    ['none', 'cone', 'SUCCESS'],
    ['none', 'symmetric', 'FAILED'],
    ['cone', 'none', 'SUCCESS'],
    ['cone', 'cone', 'SUCCESS'],
    ['cone', 'symmetric', 'FAILED'],
    ['symmetric', 'none', 'FAILED'],
    ['symmetric', 'cone', 'FAILED'],
    ['symmetric', 'symmetric', 'FAILED'],
  ]
  for (const [client, remote, outcome] of table) {
    for (const transport of TRANSPORTS) {
      it(`${client} client ↔ ${remote} remote over ${transport}: ${outcome}`, () => {
        assert.equal(expectedOutcome(client as 'cone', remote as 'cone', transport), outcome)
      })
    }
  }

  it('router rules: MASQUERADE out of the WAN, only replies in, --random-fully for symmetric', () => {
    const cone = routerRules('cone', 'w0', 'l0')!
    assert.match(cone, /^-A POSTROUTING -o w0 -j MASQUERADE$/m)
    assert.match(cone, /^:FORWARD DROP/m)
    assert.match(cone, /^-A FORWARD -i w0 -o l0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT$/m)
    assert.match(cone, /^-A INPUT -i w0 -j DROP$/m)
    assert.match(
      routerRules('symmetric', 'w0', 'l0')!,
      /^-A POSTROUTING -o w0 -j MASQUERADE --random-fully$/m,
    )
    assert.equal(routerRules('none', 'w0', 'l0'), undefined)
  })

  it('router rules of a delayed router queue every forwarded packet for net-delay; others queue nothing', () => {
    assert.match(
      routerRules('cone', 'w0', 'l0', 10)!,
      /^\*mangle\n-A FORWARD -j NFQUEUE --queue-num 0\nCOMMIT$/m,
    )
    assert.doesNotMatch(routerRules('cone', 'w0', 'l0')!, /NFQUEUE/)
  })

  it('a slow-relay remote’s router queues only its traffic with the relays, once told to', () => {
    const scenario = validateScenario({
      name: 'slow',
      relays: 2,
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'a', role: 'client' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'b', role: 'remote', behaviour: 'slow-relay' }] },
      ],
    })
    const plan = planLab(scenario, 'pt0000')
    const relays = plan.nodes.flatMap((n) => (n.kind === 'relay' ? [n.ip] : []))
    const router = plan.nodes.find((n) => n.name === 'home-b-router')!
    assert.equal(router.kind === 'router' && router.delayMs, SLOW_RELAY_DELAY_MS)
    assert.deepEqual(router.kind === 'router' && router.delayPeers, relays)
    assert.doesNotMatch(plan.firewall.get(router.netns)!, /NFQUEUE/, 'nothing delayed at first')
    assert.deepEqual(
      slowLinkRules(relays).map((args) => args.join(' ')),
      relays.flatMap((ip) => [
        `-t mangle -A FORWARD -s ${ip} -j NFQUEUE --queue-num 0`,
        `-t mangle -A FORWARD -d ${ip} -j NFQUEUE --queue-num 0`,
      ]),
    )
    const clientRouter = plan.nodes.find((n) => n.name === 'home-a-router')!
    assert.doesNotMatch(plan.firewall.get(clientRouter.netns)!, /NFQUEUE/)
  })

  it('IPv6: nat6 profiles, a public internet6 /64, IPv4-only homes; ground truth like their IPv4 twins', () => {
    const bad = () =>
      validateScenario({
        name: 'v6',
        internet6: 'fd00::/64',
        homes: [
          { name: 'a', nat: 'cone', nat6: 'nat64', hosts: [{ name: 'x', role: 'client' }] },
          { name: 'b', nat: 'none', nat6: 'firewall', hosts: [{ name: 'y', role: 'remote' }] },
        ],
      })
    assert.throws(
      bad,
      (err: Error) =>
        /homes\[0\]\.nat6: must be one of none, firewall, nat66, nat66-symmetric/.test(err.message) &&
        /homes\[1\]\.nat6: a home without a router/.test(err.message) &&
        /internet6: fd00::\/64 is not public for libp2p/.test(err.message),
    )
    assert.throws(
      () =>
        validateScenario({
          name: 'v4',
          internet6: '2600:11::/64',
          homes: [{ name: 'a', nat: 'cone', hosts: [{ name: 'x', role: 'client' }] }],
        }),
      /internet6: no home has IPv6/,
    )
    assert.equal(expectedOutcome6('firewall', 'firewall', 'tcp'), 'SUCCESS')
    assert.equal(expectedOutcome6('firewall', 'nat66', 'quic'), 'SUCCESS')
    assert.equal(expectedOutcome6('none', 'firewall', 'tcp'), 'SUCCESS')
    assert.equal(expectedOutcome6('nat66-symmetric', 'firewall', 'tcp'), 'FAILED')
    assert.equal(expectedOutcome6('none', 'nat66-symmetric', 'quic'), 'FAILED')
  })

  it('IPv6-only homes: nat left out with nat6, our client and js remotes only, a version shared with every pair', () => {
    const ok = validateScenario({
      name: 'v6only',
      homes: [
        { name: 'a', nat6: 'firewall', hosts: [{ name: 'x', role: 'client' }] },
        { name: 'b', nat6: 'nat66', hosts: [{ name: 'y', role: 'remote' }] },
        { name: 'c', nat: 'cone', nat6: 'firewall', hosts: [{ name: 'z', role: 'remote' }] },
      ],
    })
    assert.deepEqual(
      ok.homes.map((h) => [h.nat, h.nat6]),
      [
        [undefined, 'firewall'],
        [undefined, 'nat66'],
        ['cone', 'firewall'],
      ],
    )
    assert.throws(
      () =>
        validateScenario({
          name: 'bad',
          homes: [
            { name: 'a', nat6: 'none', hosts: [{ name: 'x', role: 'client', impl: 'go' }] },
            {
              name: 'b',
              nat6: 'firewall',
              hosts: [
                { name: 'y', role: 'remote', impl: 'rust' },
                { name: 'w', role: 'remote', behaviour: 'silent-dcutr' },
              ],
            },
            { name: 'c', nat: 'cone', hosts: [{ name: 'z', role: 'remote' }] },
            { name: 'd', hosts: [{ name: 'v', role: 'remote' }] },
          ],
        }),
      (err: Error) =>
        /homes\[0\]\.nat6: an IPv6-only home needs a router/.test(err.message) &&
        /homes\[0\]\.hosts\[0\]\.impl: a go client needs IPv4/.test(err.message) &&
        /homes\[1\]\.hosts\[0\]\.impl: a rust remote needs IPv4/.test(err.message) &&
        /homes\[1\]\.hosts\[1\]\.behaviour: misbehaving remotes are measured on IPv4/.test(err.message) &&
        /homes\[0\]\.hosts\[0\]: client 'x' and remote 'z' share no IP version/.test(err.message) &&
        /homes\[3\]\.nat: is required: .* \(left out with nat6, the home is IPv6-only\)/.test(err.message),
    )
  })

  it('IPv6: a go remote in a dual-stack home needs a js bootstrap peer per path the relay does not show it', () => {
    const withGo = (bootstrap: number, transports?: string[]) =>
      validateScenario({
        name: 'go6',
        bootstrap,
        homes: [
          { name: 'a', nat: 'cone', nat6: 'firewall', hosts: [{ name: 'x', role: 'client' }] },
          {
            name: 'b',
            nat: 'cone',
            nat6: 'firewall',
            hosts: [
              { name: 'y', role: 'remote', impl: 'go', ...(transports === undefined ? {} : { transports }) },
            ],
          },
        ],
      })
    assert.throws(
      () => withGo(2),
      /homes\[1\]\.hosts\[0\]: a go remote with IPv6 \(tcp\+quic\) needs 3 js bootstrap peers/,
    )
    assert.equal(withGo(3).bootstrap.length, 3)
    assert.equal(withGo(1, ['tcp']).bootstrap.length, 1)
    assert.throws(() => withGo(0, ['tcp']), /needs 1 js bootstrap peers/)
  })

  it('behaviour: only for js remotes, slow-relay in a home of its own with a router', () => {
    assert.throws(
      () =>
        validateScenario({
          name: 'bad',
          homes: [
            {
              name: 'h',
              nat: 'none',
              hosts: [
                { name: 'a', role: 'client', behaviour: 'silent-dcutr' },
                { name: 'b', role: 'remote', impl: 'go', behaviour: 'garbage-dcutr' },
                { name: 'c', role: 'remote', behaviour: 'slow-relay' },
                { name: 'd', role: 'remote', behaviour: 'rude' },
              ],
            },
          ],
        }),
      (err: Error) =>
        /hosts\[0\]\.behaviour: only a remote misbehaves/.test(err.message) &&
        /hosts\[1\]\.behaviour: misbehaving remotes are the lab's js remote/.test(err.message) &&
        /homes\[0\]\.nat: a 'slow-relay' remote needs a home with a router/.test(err.message) &&
        /homes\[0\]\.hosts: a 'slow-relay' remote's router delays the whole home/.test(err.message) &&
        /hosts\[3\]\.behaviour: must be one of silent-dcutr, /.test(err.message),
    )
  })
})

describe('expectedFor', () => {
  const scenario = validateScenario({
    name: 'exp',
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'alice', role: 'client' }] },
      {
        name: 'home-b',
        nat: 'cone',
        hosts: [
          { name: 'bob', role: 'remote' },
          { name: 'mute', role: 'remote' },
        ],
      },
      { name: 'home-c', nat: 'symmetric', hosts: [{ name: 'carol', role: 'remote' }] },
    ],
    expect: [
      { remote: 'mute', outcome: 'NO_STREAM', reason: 'mute never opens /libp2p/dcutr' },
      { client: 'home-a', remote: 'home-b', transport: 'quic', outcome: 'FAILED' },
    ],
  })

  it('falls back to the ground truth', () => {
    assert.deepEqual(expectedFor(scenario, 'alice', 'bob', 'tcp'), {
      outcome: 'SUCCESS',
      source: 'ground-truth',
      reason: 'cone (endpoint-independent mapping) client, cone (endpoint-independent mapping) remote',
    })
    assert.equal(expectedFor(scenario, 'alice', 'carol', 'quic').outcome, 'FAILED')
  })

  it('applies the first matching override, by host or home network and transport', () => {
    assert.deepEqual(expectedFor(scenario, 'alice', 'mute', 'tcp'), {
      outcome: 'NO_STREAM',
      source: 'scenario',
      reason: 'mute never opens /libp2p/dcutr',
    })
    assert.equal(expectedFor(scenario, 'alice', 'bob', 'quic').outcome, 'FAILED')
    assert.equal(expectedFor(scenario, 'alice', 'bob', 'tcp').outcome, 'SUCCESS')
  })

  it('refuses hosts that are not in the scenario', () => {
    assert.throws(
      () => expectedFor(scenario, 'alice', 'dave', 'tcp'),
      /host 'dave' is not part of scenario exp/,
    )
  })
})
