import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openDatabase } from '../../src/db/database.js'
import { REMOTE_BEHAVIOURS } from '../../src/lab/behaviours.js'
import { runCampaign } from '../../src/lab/campaign/campaign.js'
import { programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { loadScenario } from '../../src/lab/scenario-file.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import { explainFailure } from '../support/campaign-failure.js'

/**
 * The shipped scenario `misbehaving-remotes`: two punchr clients against a well-behaved remote
 * and one remote per misbehaviour (src/lab/behaviours.ts). Every stored round must agree with
 * its remote's ground truth and keep the rules every round keeps (round-checks.ts: within its
 * bound, at most the attempt cap, no dial to an address that is not the remote's); no report
 * may be refused; what the honeypot stored of the remote with NUL in its identify is clean.
 */

const skip = labUnavailableReason() ?? (existsSync(programPath('remote')) ? false : 'build first: npx tsc')
const outDir = mkdtempSync(join(tmpdir(), 'punchr-misbehaving-'))
after(() => rmSync(outDir, { recursive: true, force: true }))

describe('lab: misbehaving remotes', { skip, timeout: 600_000 }, () => {
  it('every round agrees with its remote’s ground truth, nothing is refused, nothing dialled elsewhere', async (t) => {
    const scenario = await loadScenario('misbehaving-remotes')
    // Pair exclusion: each client measures each of the 9 remotes once in its 9 rounds.
    const result = await runCampaign(scenario, {
      outDir,
      env: { PUNCHR_LOG_LEVEL: 'info' },
      retryPairAfterSeconds: 600,
    })
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, explainFailure(result))

    const measured = new Set(result.verdict.rounds.map(({ round }) => round.remote))
    for (const behaviour of [...REMOTE_BEHAVIOURS, 'honest'])
      assert.ok(measured.has(behaviour), `${behaviour} measured`)
    assert.equal(result.verdict.rounds.length, 18, 'every round of both clients is stored')

    // The clients keep what the server refused in rejected/: nothing may be there.
    for (const client of ['client-a', 'client-b']) {
      const rejected = join(result.folder.clients, `${client}-queue`, 'rejected')
      assert.deepEqual(existsSync(rejected) ? readdirSync(rejected) : [], [], `${client} had reports refused`)
    }

    const db = await openDatabase({ dataDir: result.folder.database })
    try {
      const rows = await db.query<{ agent_version: string; protocols: string[] }>(
        `SELECT p.agent_version, p.protocols FROM peers p WHERE p.agent_version LIKE 'nul%'`,
      )
      assert.equal(rows.length, 1, 'the honeypot recorded the nul-agent remote')
      const [peer] = rows
      assert.ok(!peer!.agent_version.includes('\0'))
      assert.equal(peer!.agent_version.length, LIMITS.maxRemoteTextChars)
      assert.ok(peer!.protocols.includes('/libp2p/dcutr'))
      assert.ok(peer!.protocols.every((p) => !p.includes('\0') && p.length <= LIMITS.maxRemoteTextChars))
    } finally {
      await db.close()
    }
  })
})
