import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { runCampaign } from '../../src/lab/campaign/campaign.js'
import { namespaceInode } from '../../src/lab/netns.js'
import { programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { validateScenario } from '../../src/lab/scenario.js'

/**
 * Whole campaigns with the real programs (`punchr lab run`'s library): relays, a DHT bootstrap
 * peer, `punchr up` (server + honeypot), js-libp2p remotes that find the honeypot through the
 * DHT, and `punchr client` measuring them. What the clients stored in the server's database is
 * checked against the lab's ground truth.
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('remote')) ? false : 'build first: npx tsc')
const outDir = mkdtempSync(join(tmpdir(), 'punchr-campaign-'))
after(() => rmSync(outDir, { recursive: true, force: true }))

/** `npm test` sets warn; the run folder's logs are what one reads when a campaign fails. */
const env = { PUNCHR_LOG_LEVEL: 'info' }

function show(table: string, problems: string[]): string {
  return `\n${table}\n${problems.join('\n')}`
}

describe('lab campaigns (punchr up + punchr client + js remotes)', { skip, timeout: 300_000 }, () => {
  it('cone ↔ cone: SUCCESS on the first attempt in each of 20 rounds; a server killed mid-run loses no report', async (t) => {
    const scenario = validateScenario({
      name: 'campaign-cone-cone',
      relays: 1,
      bootstrap: 1,
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
      ],
      rounds: 20,
    })
    const progress: string[] = []
    const result = await runCampaign(scenario, {
      outDir,
      env,
      killServerAfterRounds: 5,
      serverDownMs: 3_000,
      onProgress: (line) => progress.push(line),
    })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    const { verdict } = result
    assert.ok(result.ok, show(result.table, verdict.problems))
    assert.deepEqual(result.clientExits, { 'client-a': 0 })

    // The server died after round 5 and came back while the client went on measuring.
    const killed = progress.findIndex((l) => l.includes('server killed'))
    const restarted = progress.findIndex((l) => l.includes('server restarted'))
    const lastRound = progress.findLastIndex((l) => /client-a: round 20 /.test(l))
    assert.ok(killed > 0 && restarted > killed, progress.join('\n'))
    assert.ok(lastRound > killed, 'rounds were still measured after the kill')
    const clientLog = readFileSync(join(result.folder.logs, 'client-a-client.log'), 'utf8')
    assert.match(
      clientLog,
      /GetAddrInfo failed; retrying|report not accepted yet; retrying/,
      'the client met the outage',
    )
    // Exactly the 20 rounds, each stored once although the server died on the way.
    assert.equal(verdict.rounds.length, 20)
    for (const { round } of verdict.rounds) {
      assert.equal(round.outcome, 'SUCCESS', `round ${round.id}: ${round.error}`)
      assert.equal(round.remote, 'remote-b')
      assert.equal(
        round.attempts[0]?.outcome,
        'SUCCESS',
        `round ${round.id} needed ${round.attempts.length} attempts`,
      )
      assertOrdered(round)
    }
    const logs = readdirSync(result.folder.logs)
    for (const log of ['server-up.log', 'client-a-client.log', 'remote-b-remote.log', 'relay-1-relay.log'])
      assert.ok(logs.includes(log), `${log} in ${logs.join(', ')}`)
    assert.equal(readFileSync(result.folder.results, 'utf8').trim().split('\n').length, 20)
    assert.match(readFileSync(join(result.folder.logs, 'client-a-client.out'), 'utf8'), /SUCCESS/)
    assertTornDown(result.labId)
  })

  it('symmetric on either side: FAILED with recorded attempts; cone ↔ cone still SUCCESS', async (t) => {
    const scenario = validateScenario({
      name: 'campaign-symmetric',
      relays: 1,
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-d', nat: 'symmetric', hosts: [{ name: 'client-d', role: 'client' }] },
        { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
        { name: 'home-c', nat: 'symmetric', hosts: [{ name: 'remote-c', role: 'remote' }] },
      ],
      rounds: 2,
    })
    // SPEC §4's pair exclusion: each client measures each remote once in its 2 rounds.
    const result = await runCampaign(scenario, { outDir, env, retryPairAfterSeconds: 600 })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, show(result.table, result.verdict.problems))
    const pairs = result.verdict.rounds
      .map(({ round }) => `${round.client}→${round.remote}:${round.outcome}`)
      .sort()
    assert.deepEqual(pairs, [
      'client-a→remote-b:SUCCESS',
      'client-a→remote-c:FAILED',
      'client-d→remote-b:FAILED',
      'client-d→remote-c:FAILED',
    ])
    for (const { round } of result.verdict.rounds) {
      if (round.outcome !== 'FAILED') continue
      assert.ok(round.attempts.length > 0, `FAILED round ${round.id} has its attempts`)
      for (const attempt of round.attempts) assert.equal(attempt.outcome, 'FAILED')
      assertOrdered(round)
    }
    assertTornDown(result.labId)
  })

  it('go-libp2p remotes: found by the honeypot, cone SUCCESS on the first attempt, symmetric FAILED', async (t) => {
    const scenario = validateScenario({
      name: 'campaign-go',
      relays: 1,
      bootstrap: 1,
      homes: [
        { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
        { name: 'home-g', nat: 'cone', hosts: [{ name: 'remote-g', role: 'remote', impl: 'go' }] },
        { name: 'home-s', nat: 'symmetric', hosts: [{ name: 'remote-s', role: 'remote', impl: 'go' }] },
      ],
      rounds: 2,
    })
    const result = await runCampaign(scenario, { outDir, env, retryPairAfterSeconds: 600 })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, show(result.table, result.verdict.problems))
    const rounds = result.verdict.rounds.map(({ round }) => round)
    assert.deepEqual(rounds.map((r) => `${r.remote}:${r.outcome}`).sort(), [
      'remote-g:SUCCESS',
      'remote-s:FAILED',
    ])
    const punched = rounds.find((r) => r.remote === 'remote-g')!
    assert.equal(punched.attempts[0]?.outcome, 'SUCCESS', 'the tracer initiates against go-libp2p')
    assert.ok(result.verdict.groups.every((g) => g.remoteImpl === 'go'))
  })
})

/** connect_started ≤ connect_ended ≤ opened ≤ started ≤ ended, for every attempt. */
function assertOrdered(round: {
  id: number
  connectStartedUs: number
  connectEndedUs: number
  endedUs: number
  attempts: { openedUs: number; startedUs: number | null; endedUs: number }[]
}): void {
  assert.ok(
    round.connectStartedUs <= round.connectEndedUs,
    `round ${round.id}: connect ended before it started`,
  )
  let previous = round.connectEndedUs
  for (const a of round.attempts) {
    const times = [previous, a.openedUs, ...(a.startedUs === null ? [] : [a.startedUs]), a.endedUs]
    for (let i = 1; i < times.length; i++)
      assert.ok(times[i - 1]! <= times[i]!, `round ${round.id}: times out of order ${times.join(' ')}`)
    previous = a.openedUs
  }
  assert.ok(
    round.attempts.every((a) => a.endedUs <= round.endedUs),
    `round ${round.id}: attempt after round end`,
  )
}

function assertTornDown(labId: string): void {
  const left = (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((ns) =>
    ns.startsWith(`${labId}-`),
  )
  assert.deepEqual(left, [], 'no namespace of the lab is left')
  assert.equal(namespaceInode(`${labId}-server`), undefined)
}
