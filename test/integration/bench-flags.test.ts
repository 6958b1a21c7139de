// Every benchmark program answers --help with its usage (exit 0) and a flag it does not know
// with what was wrong and the usage (exit 2), before it starts any database or lab.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)
const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
const PROGRAMS = [
  '',
  '--load',
  '--client',
  '--honeypot',
  '--dashboard',
  '--auth',
  '--ingest',
  '--replicas',
  '--rest-wake',
]

async function bench(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [RUN, ...args], { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('npm run bench: flags', () => {
  for (const program of PROGRAMS) {
    const name = program === '' ? 'the server benchmark' : program
    it(`${name}: --help prints the usage; an unknown flag says so, with the usage, exit 2`, async () => {
      const selector = program === '' ? [] : [program]
      const help = await bench(...selector, '--help')
      assert.equal(help.code, 0, help.stderr)
      assert.match(help.stdout, new RegExp(`^npm run bench${program === '' ? ' ' : ` -- ${program}`}`))
      const bad = await bench(...selector, '--no-such-flag')
      assert.equal(bad.code, 2)
      assert.match(bad.stderr, /Unknown option '--no-such-flag'/)
      assert.match(bad.stderr, /npm run bench/)
      assert.doesNotMatch(bad.stderr, /at .*parse_args/, 'no stack trace')
    })
  }
})
