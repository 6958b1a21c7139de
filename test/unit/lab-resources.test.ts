import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { ResourceSampler, readProc, readProcTree, rssDrift } from '../../src/lab/campaign/resources.js'
import { descendantsOf, signalTree } from '../../src/lab/process-tree.js'
import { until } from '../support/until.js'

describe('/proc resource sampling', () => {
  it('reads CPU ticks and memory of a live process, nothing of a missing one', () => {
    const me = readProc(process.pid)
    assert.ok(me !== undefined)
    assert.ok(me.rssKiB > 1024, `RSS ${me.rssKiB} KiB`)
    assert.ok(me.peakKiB >= me.rssKiB)
    assert.ok(me.cpuTicks > 0)
    assert.equal(readProc(2 ** 22 + 1), undefined, 'beyond pid_max')
  })

  it('sums a process tree: every live descendant, and the CPU of the reaped ones', async () => {
    const alone = readProcTree(process.pid)!
    // A child holding 64 MiB that it touched, and a grandchild (through a shell) alive beside it.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const b = Buffer.alloc(64 * 2 ** 20, 1); require('child_process').spawn('sh', ['-c', 'sleep 5'], { stdio: 'ignore' }); console.log('ready'); setInterval(() => b[0]++, 1000)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      await once(child.stdout!, 'data')
      const own = readProc(process.pid)!
      const kid = readProc(child.pid!)!
      const tree = readProcTree(process.pid)!
      assert.ok(
        tree.rssKiB >= own.rssKiB + kid.rssKiB,
        `tree ${tree.rssKiB} KiB, own ${own.rssKiB}, child ${kid.rssKiB}`,
      )
      assert.ok(kid.rssKiB > 64 * 1024, `child RSS ${kid.rssKiB} KiB`)
      assert.ok(tree.peakKiB >= tree.rssKiB)
      assert.ok(tree.cpuTicks > alone.cpuTicks)
    } finally {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
    // Reaped, the child's CPU time stays in the tree's (the parent's cutime); its memory is gone.
    const after = readProcTree(process.pid)!
    assert.ok(after.cpuTicks >= readProc(process.pid)!.cpuTicks + 1, "the reaped child's CPU time is counted")
    assert.ok(after.rssKiB < readProc(process.pid)!.rssKiB + 64 * 1024)
  })

  it('summarises the samples: CPU used between first and last, RSS mean and peak', () => {
    const sampler = new ResourceSampler(process.pid)
    const until = performance.now() + 120
    while (performance.now() < until); // burn some CPU between the two samples
    const usage = sampler.stop()
    assert.ok(usage !== undefined)
    assert.equal(usage.samples, 2)
    assert.ok(usage.cpuSeconds >= 0 && usage.cpuSeconds < 1)
    assert.ok(usage.rssPeakMiB >= usage.rssMeanMiB)
    assert.equal(usage.steadyCpuPercent, undefined, 'no figure after the warm-up for a short run')
    assert.equal(usage.rssDrift, undefined, 'no leak figure for a short run')
    assert.equal(new ResourceSampler(2 ** 22 + 1).stop(), undefined)
  })

  it('gives the leak figures of a long run: the mean RSS of each tenth, the first and the last apart', () => {
    assert.equal(rssDrift(Array(29).fill(1024)), undefined, 'too few samples')
    // 35 samples climbing by 1 MiB each: tenths of 3, the two left over belong to none.
    const climbing = Array.from({ length: 35 }, (_, i) => (100 + i) * 1024)
    const drift = rssDrift(climbing)
    assert.deepEqual(drift?.tenthsMiB, [101, 104, 107, 110, 113, 116, 119, 122, 125, 133])
    assert.equal(drift?.firstMiB, 101)
    assert.equal(drift?.lastMiB, 133)
  })

  it('signals a whole tree as Ctrl-C does: a launcher that ignores SIGINT and the child it waits for', async () => {
    // Like bin/punchr.js on an old Node: the launcher ignores SIGINT and lives until its child exits.
    const launcher = spawn(
      process.execPath,
      [
        '-e',
        `process.on('SIGINT', () => {}); const c = require('child_process').spawn(process.execPath, ['-e', "process.on('SIGINT', () => { console.log('child interrupted'); process.exit(0) }); console.log('ready'); setInterval(() => {}, 1000)"], { stdio: 'inherit' }); c.on('exit', (code) => process.exit(code))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    launcher.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
    })
    const exited = once(launcher, 'exit')
    await until('the child is ready for SIGINT', () => out.includes('ready'), 10_000)
    assert.equal(descendantsOf(launcher.pid!).length, 1)
    signalTree(launcher.pid, 'SIGINT')
    const [code] = await exited
    assert.equal(code, 0)
    assert.match(out, /child interrupted/)
    assert.deepEqual(descendantsOf(launcher.pid!), [])
  })
})
