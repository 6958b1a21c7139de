import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { listNamespaces } from '../../src/lab/netns.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'

/**
 * `punchr lab up` and `punchr lab clean` through runLab (src/cli/lab.ts), run in a child
 * process so that it can get its Ctrl-C.
 */

const skip = labUnavailableReason()
const LAB_CLI = new URL('../../src/cli/lab.js', import.meta.url).href

function runLabChild(args: string[], env: Record<string, string> = {}) {
  const script = `
const { runLab } = await import(${JSON.stringify(LAB_CLI)})
process.exitCode = await runLab(${JSON.stringify(args)}, {})
`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return { child, stdout: () => stdout, stderr: () => stderr }
}

describe('punchr lab', { skip, timeout: 30_000 }, () => {
  it('up prints the address table, tears down on Ctrl-C and exits 0', async () => {
    const run = runLabChild(['up', 'cone-cone'])
    const deadline = Date.now() + 10_000
    while (!run.stdout().includes('Press Ctrl-C')) {
      assert.ok(Date.now() < deadline, `no address table: ${run.stdout()}${run.stderr()}`)
      assert.equal(run.child.exitCode, null, `exited early: ${run.stderr()}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const id = /^lab (pl[0-9a-f]{6}): scenario cone-cone, internet 11\.0\.0\.0\/24$/m.exec(run.stdout())?.[1]
    assert.ok(id !== undefined, run.stdout())
    assert.match(
      run.stdout(),
      /^client-a +host +pl[0-9a-f]{6}-client-a +10\.1\.0\.2\/24 +11\.0\.0\.\d+ +cone/m,
    )
    // internet, server, relay-1, two routers, two hosts
    assert.equal(
      listNamespaces().filter((ns) => ns.startsWith(`${id}-`)).length,
      7,
      `${listNamespaces().join(' ')}\n${run.stdout()}`,
    )
    run.child.kill('SIGINT')
    await once(run.child, 'exit')
    assert.equal(run.child.exitCode, 0, run.stderr())
    assert.match(run.stdout(), new RegExp(`lab ${id} removed in \\d+ ms`))
    assert.deepEqual(
      listNamespaces().filter((ns) => ns.startsWith(`${id}-`)),
      [],
    )
  })

  it('up with an unknown scenario names the shipped ones', async () => {
    const run = runLabChild(['up', 'no-such'])
    await once(run.child, 'exit')
    assert.notEqual(run.child.exitCode, 0)
    assert.match(run.stderr(), /no scenario file no-such; .*cone-cone/)
  })

  it('clean runs and reports', async () => {
    // Labs of other test files may be running: their owners are alive, so clean leaves them alone.
    const run = runLabChild(['clean'])
    await once(run.child, 'exit')
    assert.equal(run.child.exitCode, 0, run.stderr())
    assert.match(run.stdout(), /no lab leftovers found|removed namespace|left lab/)
  })

  it('names an unknown action', async () => {
    const run = runLabChild(['frobnicate'])
    await once(run.child, 'exit')
    assert.match(run.stderr(), /unknown action 'frobnicate'; usage: punchr lab run <scenario>/)
  })

  it('run refuses a scenario it cannot measure, before building anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'punchr-lab-cli-'))
    const file = join(dir, 'public-remote-only.json')
    writeFileSync(
      file,
      JSON.stringify({
        name: 'public-remote-only',
        homes: [{ name: 'home-b', nat: 'none', hosts: [{ name: 'b', role: 'remote', impl: 'rust' }] }],
      }),
    )
    const before = listNamespaces().length
    // A Rust toolchain that cannot run (even a cached build asks rustc for its version): had the
    // campaign started building the rust remote before checking the scenario, it would fail on
    // that instead of refusing the scenario.
    const run = runLabChild(['run', file], {
      PUNCHR_CARGO: join(dir, 'no-such-cargo'),
      RUSTC: join(dir, 'no-such-rustc'),
    })
    await once(run.child, 'exit')
    rmSync(dir, { recursive: true, force: true })
    assert.notEqual(run.child.exitCode, 0)
    assert.match(run.stderr(), /cannot run as a campaign/)
    assert.match(run.stderr(), /homes home-b: nat none — a host on the internet is no hole-punch case/)
    assert.match(run.stderr(), /no host has role client/)
    assert.doesNotMatch(`${run.stdout()}${run.stderr()}`, /rust-libp2p remote|no-such-/)
    assert.ok(listNamespaces().length <= before, 'no namespace was made')
  })
})
