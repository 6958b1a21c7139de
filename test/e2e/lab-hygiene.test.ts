import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { cleanLabs } from '../../src/lab/clean.js'
import { listNamespaces, namespaceInode, pidsInNamespaces } from '../../src/lab/netns.js'
import { isAlive, OWNERS_DIR } from '../../src/lab/owners.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'

/**
 * Hygiene: a lab goes away with the process that owns it, however that process ends, and
 * `punchr lab clean` removes what a SIGKILLed owner could not. Each case runs an owner in a
 * child process so that it can be signalled, crash or be killed.
 */

const skip = labUnavailableReason()
const dist = (path: string) => new URL(`../../src/${path}`, import.meta.url).href

/** An owner: brings a small lab up, starts a sleeper in a host and a grandchild in the relay. */
const OWNER = `
const { upLabNetwork } = await import(${JSON.stringify(dist('lab/topology.js'))})
const { validateScenario } = await import(${JSON.stringify(dist('lab/scenario.js'))})
const lab = await upLabNetwork(validateScenario({
  name: 'hygiene', server: false,
  homes: [{ name: 'home', nat: 'cone', hosts: [{ name: 'host', role: 'client' }] }],
}))
lab.spawn('host', 'sleep', ['60'], { stdio: 'ignore' })
lab.spawn('relay-1', 'sh', ['-c', 'sleep 61 & wait'], { stdio: 'ignore' })
process.stdout.write(JSON.stringify({ id: lab.id, namespaces: lab.namespaces }) + '\\n')
const mode = process.argv[1]
if (mode === 'throw') setTimeout(() => { throw new Error('boom') }, 100)
else if (mode === 'reject') setTimeout(() => Promise.reject(new Error('boom')), 100)
else setInterval(() => {}, 1000)
`

interface Owner {
  child: ChildProcess
  id: string
  namespaces: string[]
  /** The processes inside the lab while the owner ran. */
  pids: number[]
}

async function startOwner(mode: 'wait' | 'throw' | 'reject'): Promise<Owner> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', OWNER, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const lines = createInterface({ input: child.stdout! })
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      throw new Error(`owner exited before its lab was up: ${stderr}`)
    }),
  ])) as [string]
  const { id, namespaces } = JSON.parse(line) as { id: string; namespaces: string[] }
  const inodes = new Set(namespaces.map(namespaceInode).filter((i) => i !== undefined))
  let pids: number[] = []
  try {
    assert.equal(inodes.size, namespaces.length, 'every namespace exists while the owner runs')
    // Two sleepers and a shell, once `ip netns exec` has moved them into the lab.
    const deadline = Date.now() + 5_000
    for (;;) {
      pids = pidsInNamespaces(inodes)
      if (pids.length >= 3) break
      assert.ok(Date.now() < deadline, "the owner's processes run inside the lab")
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } catch (err) {
    child.kill('SIGTERM')
    throw err
  }
  return { child, id, namespaces, pids }
}

async function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
  return { code: child.exitCode, signal: child.signalCode }
}

/** SIGKILL takes effect a moment after it is sent, and the owner does not wait for it. */
async function assertGone(owner: Owner): Promise<void> {
  const deadline = Date.now() + 2_000
  while (owner.pids.some(isAlive) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10))
  const left = listNamespaces().filter((ns) => ns.startsWith(`${owner.id}-`))
  assert.deepEqual(left, [], 'no namespace of the lab is left')
  // By pid, not by namespace inode: a destroyed namespace's inode number is reused by the next one
  // created, possibly by another test file's lab.
  assert.deepEqual(owner.pids.filter(isAlive), [], 'no process of the lab is left')
  assert.equal(existsSync(`${OWNERS_DIR}/${owner.id}.json`), false, 'its owner record is gone')
}

describe('lab hygiene', { skip, timeout: 60_000 }, () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`tears down when the owner gets ${signal}, and the owner still dies of it`, async () => {
      const owner = await startOwner('wait')
      owner.child.kill(signal)
      assert.deepEqual(await exited(owner.child), { code: null, signal })
      await assertGone(owner)
    })
  }

  for (const mode of ['throw', 'reject'] as const) {
    it(`tears down when the owner crashes (uncaught ${mode === 'throw' ? 'exception' : 'rejection'})`, async () => {
      const owner = await startOwner(mode)
      assert.equal((await exited(owner.child)).code, 1)
      await assertGone(owner)
    })
  }

  it('clean removes what a SIGKILLed owner left behind, processes included', async () => {
    const owner = await startOwner('wait')
    owner.child.kill('SIGKILL')
    await exited(owner.child)
    assert.equal(
      listNamespaces().filter((ns) => ns.startsWith(`${owner.id}-`)).length,
      owner.namespaces.length,
    )
    assert.equal(owner.pids.filter(isAlive).length, owner.pids.length, 'the sleepers outlive their owner')
    const report = await cleanLabs({ ids: [owner.id] })
    assert.deepEqual(report.namespaces.sort(), [...owner.namespaces].sort())
    assert.ok(report.killedPids.length >= 3)
    assert.deepEqual(report.skipped, [])
    await assertGone(owner)
  })

  it('clean leaves a lab alone while its owner runs, unless forced', async () => {
    const owner = await startOwner('wait')
    try {
      const report = await cleanLabs({ ids: [owner.id] })
      assert.deepEqual(report.skipped, [{ id: owner.id, pid: owner.child.pid, scenario: 'hygiene' }])
      assert.deepEqual(report.namespaces, [])
      assert.equal(
        listNamespaces().filter((ns) => ns.startsWith(`${owner.id}-`)).length,
        owner.namespaces.length,
      )
      const forced = await cleanLabs({ ids: [owner.id], force: true })
      assert.equal(forced.namespaces.length, owner.namespaces.length)
      await assertGone(owner)
    } finally {
      owner.child.kill('SIGKILL')
      await exited(owner.child)
    }
  })
})
