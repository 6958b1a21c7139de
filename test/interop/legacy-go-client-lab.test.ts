import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openDatabase } from '../../src/db/database.js'
import { runCampaign } from '../../src/lab/campaign/campaign.js'
import { programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { loadScenario } from '../../src/lab/scenario-file.js'

/**
 * The original Go punchr client's stack (go-libp2p 0.23 as its author's fork, go-multiaddr
 * 0.7, Go 1.19: test/interop/legacy-go-client) measuring through our server in the NAT lab, the
 * shipped `legacy-go-client` scenario: remotes with TCP and QUIC relay addresses, go-libp2p
 * behind a cone and a symmetric NAT and js-libp2p behind a cone NAT, four go-libp2p bootstrap
 * peers, 10 ms of delay per router. Every round must be judged right, every report stored, and
 * the server must have handed the old client nothing it could not decode or run.
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('remote')) ? false : 'build first: npx tsc')
const outDir = mkdtempSync(join(tmpdir(), 'punchr-legacy-client-'))
after(() => rmSync(outDir, { recursive: true, force: true }))

describe('the original Go client in the NAT lab', { skip, timeout: 20 * 60_000 }, () => {
  it('cone ↔ cone SUCCESS against go-libp2p, FAILED behind a symmetric NAT and against js-libp2p; every report stored', async (t) => {
    const scenario = await loadScenario('legacy-go-client')
    const result = await runCampaign(scenario, {
      outDir,
      rounds: 6,
      clientHostCount: 3,
      env: { PUNCHR_LOG_LEVEL: 'info' },
    })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    const { verdict } = result
    assert.ok(result.ok, `\n${result.table}\n${verdict.problems.join('\n')}`)
    assert.deepEqual(result.clientExits, { 'client-a': 0 })

    // Every round the client measured is stored (none refused, none dropped: result.ok also
    // says the client printed no untracked round and no dropped answer), and each remote was
    // measured twice.
    assert.equal(verdict.rounds.length, 6)
    const byRemote = (name: string) =>
      verdict.rounds.filter((r) => r.round.remote === name).map((r) => r.round)
    assert.deepEqual(
      byRemote('remote-b').map((r) => r.outcome),
      ['SUCCESS', 'SUCCESS'],
    )
    assert.deepEqual(
      byRemote('remote-c').map((r) => r.outcome),
      ['FAILED', 'FAILED'],
    )
    assert.deepEqual(
      byRemote('remote-d').map((r) => r.outcome),
      ['FAILED', 'FAILED'],
    )
    for (const { round } of verdict.rounds) {
      assert.equal(round.clientImplementation, 'punchr-go')
      assert.equal(round.transport, 'tcp')
    }
    // go-libp2p 0.23 always takes the security server's role; today's go-libp2p takes the
    // client's only on its third attempt (docs/INTEROP.md): the success comes on attempt 3.
    for (const round of byRemote('remote-b')) assert.equal(round.attempts.at(-1)?.outcome, 'SUCCESS')
    const quirks = new Set(verdict.rounds.flatMap((r) => r.round.quirks))
    assert.ok(quirks.has('go-empty-attempt-errors'), [...quirks].join(', '))
    assert.ok(quirks.has('go-unbounded-ping-series'), [...quirks].join(', '))

    const db = await openDatabase({ dataDir: result.folder.database })
    try {
      // Only filters it can run, in its own codes: none, or ip4+tcp (its listen addresses have
      // no usable IPv6 address, and it cannot decode quic-v1).
      const filters = await db.query<{ protocols: number[] }>('SELECT protocols FROM hole_punch_results')
      for (const { protocols } of filters) assert.ok(['', '4,6'].includes(protocols.map(Number).join(',')))
      // Its answers carried TCP relay addresses only, although the remotes also have QUIC ones.
      const handed = await db.query<{ maddr: string }>(
        `SELECT ma.maddr FROM allocations a JOIN multi_addresses ma ON ma.id = a.multi_address_id`,
      )
      assert.ok(handed.length > 0)
      for (const { maddr } of handed) assert.doesNotMatch(maddr, /quic/)
      const advertised = await db.query<{ maddr: string }>(
        `SELECT ma.maddr FROM remote_candidates rc JOIN multi_addresses ma ON ma.id = ANY(rc.relay_multi_address_ids)`,
      )
      assert.ok(
        advertised.some((a) => a.maddr.includes('/quic-v1/')),
        advertised.map((a) => a.maddr).join('\n'),
      )
    } finally {
      await db.close()
    }
  })
})
