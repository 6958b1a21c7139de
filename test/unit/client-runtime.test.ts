// The client's runtime settings (src/cli/client-runtime.ts) and the `punchr` launcher
// (bin/punchr): both keep the client one process, with the heap and allocator it was measured with.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CLIENT_ENV, CLIENT_NODE_FLAGS, CLIENT_RUNTIME_ENV } from '../../src/cli/client-runtime.js'

const RUNTIME = fileURLToPath(new URL('../../src/cli/client-runtime.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'punchr-runtime-'))
after(() => rmSync(work, { recursive: true, force: true }))

/** A script that says who it is before and after applyClientRuntime(): pid, flags, heap, env. */
const probe = join(work, 'probe.mjs')
writeFileSync(
  probe,
  `import { getHeapSpaceStatistics } from 'node:v8'
const { applyClientRuntime } = await import(${JSON.stringify(RUNTIME)})
// Young objects that survive a few scavenges: Node's default young generation grows for them.
const churn = () => {
  let kept = []
  for (let r = 0; r < 20; r++) {
    kept = []
    for (let i = 0; i < 200000; i++) kept.push({ i })
  }
  return kept.length
}
const me = () => churn() && JSON.stringify({
  pid: process.pid,
  execArgv: process.execArgv,
  argv: process.argv.slice(2),
  arenas: process.env.MALLOC_ARENA_MAX ?? null,
  newSpace: getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size,
})
console.log(me())
applyClientRuntime()
console.log(me())
`,
)

function runProbe(env: Record<string, string> = {}) {
  const { [CLIENT_RUNTIME_ENV]: _, MALLOC_ARENA_MAX: __, ...inherited } = process.env
  const res = spawnSync(process.execPath, ['--expose-gc', probe, 'client', '--host-count', '3'], {
    encoding: 'utf8',
    env: { ...inherited, ...env },
  })
  assert.equal(res.status, 0, res.stderr)
  return res.stdout
    .trim()
    .split('\n')
    .map(
      (line) =>
        JSON.parse(line) as {
          pid: number
          execArgv: string[]
          argv: string[]
          arenas: string | null
          newSpace: number
        },
    )
}

describe('the client runtime', () => {
  it('re-executes the same process with its V8 flags and one malloc arena, keeping arguments and flags', () => {
    // One line from the old image, then two from the new: before the call, and after it,
    // which returns this time (the marker stops a loop).
    const [before, afterExec, again, ...more] = runProbe()
    assert.ok(before !== undefined && afterExec !== undefined)
    assert.deepEqual(more, [])
    assert.equal(afterExec.pid, before.pid, 'execve keeps the process id')
    assert.deepEqual(afterExec.execArgv, [...CLIENT_NODE_FLAGS, '--expose-gc'])
    assert.deepEqual(afterExec.argv, ['client', '--host-count', '3'])
    assert.equal(afterExec.arenas, CLIENT_ENV.MALLOC_ARENA_MAX)
    // Two semi-spaces of at most 1 MiB each (Node's default lets each grow to 16 MiB).
    assert.ok(afterExec.newSpace <= 2 * 2 ** 20, `new space ${afterExec.newSpace} bytes`)
    assert.ok(before.newSpace > 4 * 2 ** 20, `new space with Node's defaults ${before.newSpace} bytes`)
    assert.deepEqual(
      { ...again, newSpace: 0 },
      { ...afterExec, newSpace: 0 },
      'the second call changes nothing',
    )
  })

  it('keeps Node defaults when asked (PUNCHR_CLIENT_RUNTIME=node)', () => {
    const lines = runProbe({ [CLIENT_RUNTIME_ENV]: 'node' })
    assert.equal(lines.length, 2)
    assert.deepEqual(lines[1]!.execArgv, ['--expose-gc'])
    assert.equal(lines[1]!.arenas, null)
  })
})

describe('the punchr launcher (bin/punchr)', () => {
  it('follows relative symlinks as npm makes them and runs punchr on the Node 22 it finds, whatever node PATH has', () => {
    const bin = join(work, 'prefix', 'bin')
    spawnSync('mkdir', ['-p', bin])
    symlinkSync(join(ROOT, 'bin', 'punchr'), join(work, 'punchr-link'))
    symlinkSync('../../punchr-link', join(bin, 'punchr'))
    const res = spawnSync(join(bin, 'punchr'), ['version'], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    })
    assert.equal(res.status, 0, res.stderr)
    assert.match(res.stdout, /^\d+\.\d+\.\d+\n$/)
  })
})
