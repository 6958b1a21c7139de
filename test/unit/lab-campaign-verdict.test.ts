import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MeasuredRound } from '../../src/lab/campaign/measured-round.js'
import { ipVersionOf, transportOf } from '../../src/lab/campaign/stored-rounds.js'
import { formatVerdictTable } from '../../src/lab/campaign/table.js'
import { judge } from '../../src/lab/campaign/verdict.js'
import { LAB_ROUTER_PRIVATE, LAB_ROUTER_TITLE } from '../../src/lab/router-login-page.js'
import { validateScenario } from '../../src/lab/scenario.js'

const scenario = validateScenario({
  name: 'verdict',
  homes: [
    { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
    { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
    { name: 'home-c', nat: 'symmetric', hosts: [{ name: 'remote-c', role: 'remote' }] },
    { name: 'home-d', nat: 'cone', hosts: [{ name: 'remote-d', role: 'remote', impl: 'go' }] },
  ],
  expect: [{ remote: 'remote-d', outcome: 'NO_STREAM', reason: 'runs without dcutr' }],
})

/** What our client reports of the lab router's login page. */
const FINGERPRINT = JSON.stringify({
  format: 'punchr-router-fingerprint/1',
  status: 200,
  title: LAB_ROUTER_TITLE,
})

let nextId = 1
function round(remote: string | undefined, outcome: string, firstAttempt = outcome): MeasuredRound {
  return {
    id: nextId++,
    client: 'client-a',
    clientPeer: '12D3KooWclient',
    remote,
    remotePeer: `12D3KooW${remote ?? 'stranger'}`,
    transport: 'tcp',
    outcome,
    error: outcome === 'SUCCESS' ? null : 'boom',
    finalTransport: outcome === 'SUCCESS' ? 'tcp' : null,
    ipVersion: 4,
    clientImplementation: 'punchr-ts',
    quirks: [],
    clientNatMapping: 'unknown',
    routerLoginHtml: FINGERPRINT,
    routerLoginHtmlError: null,
    natMappings: [],
    filterIpVersion: 4,
    filterTransport: 'tcp',
    connectStartedUs: 1,
    connectEndedUs: 2,
    endedUs: 3,
    attempts: [
      {
        number: 1,
        outcome: firstAttempt,
        error: null,
        openedUs: 2,
        startedUs: 2,
        endedUs: 3,
        startRttSeconds: 0.001,
        elapsedSeconds: 0.001,
      },
    ],
    punchedAddrs: [],
  }
}

describe('campaign verdict', () => {
  it('a client whose router runs miniupnpd succeeds whatever its NAT, and reports only the mappings the router held', () => {
    const upnp = validateScenario({
      name: 'upnp',
      relays: 2,
      homes: [
        { name: 'home-a', nat: 'symmetric', upnp: true, hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
      ],
    })
    const mapping = { protocol: 'tcp', internalPort: 4001, externalPort: 4001, addr: '11.0.0.4' }
    const measured = (natMappings: (typeof mapping)[]) => ({
      ...round('remote-b', 'SUCCESS'),
      clientNatMapping: 'address-and-port-dependent',
      natMappings,
    })
    const gateways = new Map([['client-a', { addr: '11.0.0.4', seen: new Set(['tcp 4001 4001']) }]])
    const v = judge(
      upnp,
      [
        measured([mapping]),
        measured([]),
        measured([{ ...mapping, externalPort: 4002 }]),
        measured([{ ...mapping, addr: '11.0.0.9' }]),
      ],
      new Map(),
      gateways,
    )
    assert.equal(v.rounds[0]!.expected?.outcome, 'SUCCESS')
    assert.match(v.rounds[0]!.expected!.reason, /UPnP port mapping/)
    assert.deepEqual(
      v.rounds.map((r) => r.problems),
      [
        [],
        ['reported no port mapping, though its router runs miniupnpd'],
        ['reported the port mapping tcp 4001 4002, which miniupnpd never held'],
        ["reported the mapped address 11.0.0.9, the router's is 11.0.0.4"],
      ],
    )
    // Without a UPnP gateway a mapping cannot exist.
    assert.deepEqual(judge(upnp, [measured([mapping])]).rounds[0]!.problems, [
      'reported port mappings (tcp 4001 4001) without a gateway to make them',
    ])
    assert.throws(
      () =>
        validateScenario({
          name: 'x',
          homes: [{ name: 'h', nat: 'none', upnp: true, hosts: [{ name: 'c', role: 'client' }] }],
        }),
      /UPnP runs on an IPv4 router/,
    )
  })

  it("holds our client's NAT mapping to the lab's routers once two relays give two observer IPs", () => {
    const twoRelays = validateScenario({
      name: 'nat-mapping',
      relays: 2,
      homes: [
        { name: 'home-a', nat: 'symmetric', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
      ],
    })
    const measured = (clientNatMapping: string | null, clientImplementation = 'punchr-ts') => ({
      ...round('remote-b', 'FAILED'),
      clientNatMapping,
      clientImplementation,
    })
    const v = judge(twoRelays, [
      measured('address-and-port-dependent'),
      measured('endpoint-dependent'),
      measured(null),
      measured(null, 'punchr-go'),
    ])
    assert.deepEqual(
      v.rounds.map((r) => r.problems),
      [
        [],
        [
          "reported the client's NAT mapping as endpoint-dependent, the lab's router maps address-and-port-dependent",
        ],
        ["reported the client's NAT mapping as nothing, the lab's router maps address-and-port-dependent"],
        [],
      ],
    )
    // The router's login page: a fingerprint with its title, nothing private, and not missing.
    const withRouter = (routerLoginHtml: string | null) =>
      judge(twoRelays, [
        { ...measured('address-and-port-dependent'), routerLoginHtml, routerLoginHtmlError: 'timeout' },
      ]).rounds[0]!.problems
    assert.deepEqual(withRouter(FINGERPRINT), [])
    assert.deepEqual(withRouter(null), ['reported no router fingerprint (timeout)'])
    assert.deepEqual(
      withRouter(`<html><title>${LAB_ROUTER_TITLE}</title>${LAB_ROUTER_PRIVATE.owner}</html>`),
      [
        'reported a router page that is no fingerprint',
        `leaked the router page's ${LAB_ROUTER_PRIVATE.owner}`,
        "fingerprinted the router's title as undefined",
      ],
    )
    // One relay: one observer IP, so nothing can be classified.
    assert.deepEqual(judge(scenario, [round('remote-b', 'SUCCESS')]).problems, [])
    assert.match(
      judge(scenario, [
        { ...round('remote-b', 'SUCCESS'), clientNatMapping: 'endpoint-independent' },
      ]).problems.join(),
      /maps unknown/,
    )
  })

  it('groups rounds by (client NAT, remote NAT, transport) and agrees with the ground truth', () => {
    const v = judge(scenario, [
      round('remote-b', 'SUCCESS'),
      round('remote-b', 'SUCCESS', 'FAILED'),
      round('remote-c', 'FAILED'),
      round('remote-d', 'NO_STREAM'),
    ])
    assert.deepEqual(v.problems, [])
    assert.equal(v.agree, 4)
    assert.deepEqual(
      v.groups.map((g) => [
        g.clientNat,
        g.remoteNat,
        g.transport,
        g.expected,
        g.rounds,
        g.firstAttemptSuccesses,
      ]),
      [
        ['cone', 'cone', 'tcp', 'NO_STREAM', 1, 0],
        ['cone', 'cone', 'tcp', 'SUCCESS', 2, 1],
        ['cone', 'symmetric', 'tcp', 'FAILED', 1, 0],
      ],
    )
  })

  it('names every round that disagrees, with the expectation and its reason', () => {
    const v = judge(scenario, [round('remote-b', 'SUCCESS'), round('remote-c', 'SUCCESS')])
    assert.equal(v.disagree, 1)
    assert.equal(v.problems.length, 1)
    assert.match(
      v.problems[0]!,
      /client-a → remote-c over tcp measured SUCCESS, expected FAILED \(cone .* symmetric/,
    )
    assert.match(formatVerdictTable(v), /cone +symmetric +js +tcp +1 +SUCCESS 1 +1\/1 +FAILED +DIFFERS \(1\)/)
  })

  it('does not judge cancelled rounds, and fails a campaign that judged nothing or met a stranger', () => {
    const cancelled = judge(scenario, [round('remote-b', 'CANCELLED')])
    assert.equal(cancelled.notJudged, 1)
    assert.deepEqual(cancelled.problems, ['no round could be judged'])
    assert.deepEqual(judge(scenario, []).problems, ['no round was stored: see the client and server logs'])
    const stranger = judge(scenario, [round('remote-b', 'SUCCESS'), round(undefined, 'SUCCESS')])
    assert.equal(stranger.problems.length, 1)
    assert.match(stranger.problems[0]!, /is none of the lab's remotes/)
  })

  it('the table counts outcomes and first-attempt successes', () => {
    const table = formatVerdictTable(
      judge(scenario, [
        round('remote-b', 'SUCCESS'),
        round('remote-b', 'SUCCESS'),
        round('remote-b', 'FAILED'),
      ]),
    )
    assert.match(table, /cone +cone +js +tcp +3 +SUCCESS 2, FAILED 1 +2\/2 +SUCCESS +DIFFERS \(1\)/)
    assert.match(table, /2 of 3 judged rounds agree with the ground truth/)
  })

  it('expects FAILED where the implementations cannot punch, whatever the NATs allow', () => {
    const legacy = validateScenario({
      name: 'legacy',
      bootstrap: 4,
      bootstrapImpl: 'go',
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client', impl: 'go' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote', impl: 'go' }] },
        { name: 'home-d', nat: 'cone', hosts: [{ name: 'remote-d', role: 'remote', impl: 'js' }] },
        { name: 'home-e', nat: 'symmetric', hosts: [{ name: 'remote-e', role: 'remote', impl: 'js' }] },
      ],
    })
    const verdict = judge(legacy, [
      round('remote-b', 'SUCCESS'),
      round('remote-d', 'FAILED'),
      round('remote-e', 'FAILED'),
    ])
    assert.deepEqual(
      verdict.rounds.map((r) => [r.round.remote, r.expected?.outcome, r.expected?.source, r.agrees]),
      [
        ['remote-b', 'SUCCESS', 'ground-truth', true],
        ['remote-d', 'FAILED', 'implementations', true],
        ['remote-e', 'FAILED', 'ground-truth', true],
      ],
    )
    assert.match(verdict.rounds[1]!.expected!.reason, /cannot dial js-libp2p 3's CONNECT addresses/)
    // Our client punches the same js remote: the NATs decide.
    const ours = validateScenario({
      ...legacy,
      bootstrapImpl: 'js',
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-d', nat: 'cone', hosts: [{ name: 'remote-d', role: 'remote', impl: 'js' }] },
      ],
    })
    assert.equal(judge(ours, [round('remote-d', 'SUCCESS')]).rounds[0]!.expected!.outcome, 'SUCCESS')
  })
})

describe('misbehaving remotes and the rules every round keeps', () => {
  const hostile = validateScenario({
    name: 'hostile',
    homes: [
      { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
      { name: 'home-s', nat: 'cone', hosts: [{ name: 'silent', role: 'remote', behaviour: 'silent-dcutr' }] },
      { name: 'home-f', nat: 'cone', hosts: [{ name: 'flood', role: 'remote', behaviour: 'stream-flood' }] },
      { name: 'home-d', nat: 'cone', hosts: [{ name: 'dies', role: 'remote', behaviour: 'dies-mid-punch' }] },
      { name: 'home-w', nat: 'cone', hosts: [{ name: 'slow', role: 'remote', behaviour: 'slow-relay' }] },
      {
        name: 'home-x',
        nat: 'cone',
        hosts: [{ name: 'foreign', role: 'remote', behaviour: 'foreign-addrs' }],
      },
    ],
  })
  const publicIps = new Map<string, string[]>([
    ['silent', ['11.0.0.10']],
    ['flood', ['11.0.0.11']],
    ['dies', ['11.0.0.12']],
    ['slow', ['11.0.0.13']],
    ['foreign', ['11.0.0.14']],
  ])
  const attempts = (outcomes: string[], startRttSeconds = 0.001) =>
    outcomes.map((outcome, i) => ({
      ...round('x', outcome).attempts[0]!,
      number: i + 1,
      outcome,
      startRttSeconds,
    }))
  const measured = (
    remote: string,
    outcome: string,
    changes: Partial<MeasuredRound> = {},
  ): MeasuredRound => ({
    ...round(remote, outcome),
    ...changes,
  })
  const problems = (...rounds: MeasuredRound[]) => judge(hostile, rounds, publicIps).problems

  it('a misbehaving remote has its own outcome and attempt outcomes', () => {
    const v = judge(
      hostile,
      [
        measured('silent', 'FAILED', { attempts: attempts(['TIMEOUT']) }),
        measured('flood', 'FAILED', { attempts: attempts(Array(10).fill('PROTOCOL_ERROR')) }),
        measured('dies', 'FAILED', { attempts: attempts(['PROTOCOL_ERROR']) }),
        measured('dies', 'NO_CONNECTION', { attempts: [] }),
      ],
      publicIps,
    )
    assert.deepEqual(v.problems, [])
    assert.deepEqual(
      v.rounds.map((r) => [r.expected?.source, r.agrees]),
      [
        ['behaviour', true],
        ['behaviour', true],
        ['behaviour', true],
        ['behaviour', true],
      ],
    )
    assert.match(formatVerdictTable(v), /cone +cone +js silent-dcutr +tcp +1 +FAILED 1/)
  })

  it('names the round that ends otherwise or whose attempts do not match', () => {
    assert.match(
      problems(measured('silent', 'SUCCESS'))[0]!,
      /measured SUCCESS, expected FAILED \(a silent-dcutr remote/,
    )
    assert.match(
      problems(measured('silent', 'FAILED', { attempts: attempts(['PROTOCOL_ERROR']) })).join('\n'),
      /attempt\(s\) 1 PROTOCOL_ERROR with a silent-dcutr remote, expected TIMEOUT/,
    )
    assert.match(
      problems(measured('flood', 'FAILED', { attempts: attempts(Array(11).fill('PROTOCOL_ERROR')) })).join(
        '\n',
      ),
      /stored 11 attempts, more than the cap of 10/,
    )
    assert.match(
      problems(measured('slow', 'SUCCESS', { attempts: attempts(['SUCCESS'], 0.5) })).join('\n'),
      /start RTT 0.5 s, expected ≥ 2 s/,
    )
    assert.deepEqual(problems(measured('slow', 'SUCCESS', { attempts: attempts(['SUCCESS'], 2.1) })), [])
  })

  it('our client never dials an address that is not the remote’s, nor runs past the round’s bound', () => {
    const foreignDial = measured('foreign', 'SUCCESS', {
      punchedAddrs: ['/ip4/11.0.0.14/tcp/4101', '/ip4/11.0.0.2/tcp/4001'],
    })
    assert.match(
      problems(foreignDial).join('\n'),
      /dialled \/ip4\/11\.0\.0\.2\/tcp\/4001, not the remote's own address/,
    )
    assert.deepEqual(
      problems(measured('foreign', 'SUCCESS', { punchedAddrs: ['/ip4/11.0.0.14/tcp/4101'] })),
      [],
    )
    // The original Go client is not held to our rules.
    assert.deepEqual(problems({ ...foreignDial, clientImplementation: 'punchr-go' }), [])
    const long = measured('foreign', 'SUCCESS', { connectEndedUs: 0, endedUs: 200 * 1e6 })
    assert.match(
      problems(long).join('\n'),
      /ran 200\.0 s after its relayed connection, past the bound of 162 s/,
    )
  })
})

describe('transportOf', () => {
  it('takes the served filter first, then the final connection, then the punched addresses', () => {
    assert.equal(transportOf([4, 460], null, []), 'quic')
    assert.equal(transportOf([4, 461], 'tcp', []), 'quic')
    assert.equal(transportOf([41, 6], null, []), 'tcp')
    assert.equal(transportOf([], 'quic-v1', []), 'quic')
    assert.equal(transportOf([], null, ['/ip4/11.0.0.3/udp/4100/quic-v1']), 'quic')
    assert.equal(transportOf([], null, []), 'tcp')
  })
})

describe('ipVersionOf', () => {
  it('takes the served filter first, then the final connection, then the punched addresses', () => {
    assert.equal(ipVersionOf([41, 6], 4, []), 6)
    assert.equal(ipVersionOf([4, 460], 6, []), 4)
    assert.equal(ipVersionOf([], 6, ['/ip4/11.0.0.3/tcp/4001']), 6)
    assert.equal(
      ipVersionOf([], null, ['/ip6/2600:11:0:2::1/tcp/4001', '/ip6/2600:11::7/udp/4001/quic-v1']),
      6,
    )
    assert.equal(ipVersionOf([], null, ['/ip6/2600:11::7/tcp/4001', '/ip4/11.0.0.3/tcp/4001']), 'any')
    assert.equal(ipVersionOf([], null, []), 'any')
  })
})

describe('campaign verdict with IPv6', () => {
  const dual = validateScenario({
    name: 'dual',
    homes: [
      { name: 'home-a', nat: 'cone', nat6: 'firewall', hosts: [{ name: 'client-a', role: 'client' }] },
      { name: 'home-b', nat: 'symmetric', nat6: 'firewall', hosts: [{ name: 'remote-b', role: 'remote' }] },
      { name: 'home-c', nat: 'cone', nat6: 'nat66-symmetric', hosts: [{ name: 'remote-c', role: 'remote' }] },
    ],
  })
  const on = (remote: string, outcome: string, ipVersion: 4 | 6 | 'any'): MeasuredRound => ({
    ...round(remote, outcome),
    ipVersion,
  })

  it('judges IPv6 rounds by the homes’ nat6, IPv4 ones by nat, and a round on both by either', () => {
    const verdict = judge(dual, [
      on('remote-b', 'FAILED', 4), // symmetric IPv4
      on('remote-b', 'SUCCESS', 6), // firewall on both sides
      on('remote-c', 'SUCCESS', 4), // cone / cone
      on('remote-c', 'FAILED', 6), // nat66-symmetric
      on('remote-b', 'SUCCESS', 'any'), // IPv6 can
      on('remote-b', 'FAILED', 'any'),
    ])
    assert.deepEqual(
      verdict.rounds.map((r) => [r.expected?.outcome, r.agrees]),
      [
        ['FAILED', true],
        ['SUCCESS', true],
        ['SUCCESS', true],
        ['FAILED', true],
        ['SUCCESS', true],
        ['SUCCESS', false],
      ],
    )
    assert.match(verdict.rounds[3]!.expected!.reason, /IPv6: firewall .* client, nat66-symmetric/)
    assert.match(
      verdict.problems.join('\n'),
      /over tcp on IPv4 and IPv6 measured FAILED, expected SUCCESS \(IPv4 and IPv6 punched at once/,
    )
    const table = formatVerdictTable(verdict)
    assert.match(table, /^IP +client NAT/)
    assert.match(table, /\n6 +firewall +nat66-symmetric +js +tcp +1 +FAILED 1/)
    assert.match(table, /\nany +cone \/ firewall +symmetric \/ firewall +js +tcp +2 /)
  })

  it('judges a round with a host of an IPv6-only home by IPv6, even one that punched nothing', () => {
    const v6only = validateScenario({
      name: 'v6only',
      homes: [
        { name: 'home-a', nat6: 'firewall', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-b', nat: 'symmetric', nat6: 'firewall', hosts: [{ name: 'remote-b', role: 'remote' }] },
      ],
    })
    const verdict = judge(v6only, [on('remote-b', 'SUCCESS', 'any'), on('remote-b', 'SUCCESS', 4)])
    assert.deepEqual(
      verdict.rounds.map((r) => [r.expected?.outcome, r.agrees]),
      [
        ['SUCCESS', true],
        ['SUCCESS', true],
      ],
    )
    assert.match(formatVerdictTable(verdict), /\n6 +firewall \(IPv6 only\) +firewall +js +tcp +2 +SUCCESS 2/)
  })

  it('an IPv4 lab keeps its table without the IP column', () => {
    assert.doesNotMatch(formatVerdictTable(judge(scenario, [on('remote-b', 'SUCCESS', 'any')])), /^IP /)
  })
})
