import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MeasuredRound } from '../../src/lab/campaign/measured-round.js'
import { transportOf } from '../../src/lab/campaign/stored-rounds.js'
import { formatVerdictTable } from '../../src/lab/campaign/table.js'
import { judge } from '../../src/lab/campaign/verdict.js'
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
    clientImplementation: 'punchr-ts',
    quirks: [],
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
  }
}

describe('campaign verdict', () => {
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
