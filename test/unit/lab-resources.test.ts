import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ResourceSampler, readProc } from '../../src/lab/campaign/resources.js'

describe('/proc resource sampling', () => {
  it('reads CPU ticks and memory of a live process, nothing of a missing one', () => {
    const me = readProc(process.pid)
    assert.ok(me !== undefined)
    assert.ok(me.rssKiB > 1024, `RSS ${me.rssKiB} KiB`)
    assert.ok(me.peakKiB >= me.rssKiB)
    assert.ok(me.cpuTicks > 0)
    assert.equal(readProc(2 ** 22 + 1), undefined, 'beyond pid_max')
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
    assert.equal(new ResourceSampler(2 ** 22 + 1).stop(), undefined)
  })
})
