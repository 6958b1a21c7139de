import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { QueueDiskFullError, ReportQueue } from '../../src/client/report-queue.js'

/**
 * The client's report queue on a real, tiny tmpfs that fills up: a clear error naming the
 * disk, no crash, no torn or temporary file left, every report queued before intact — and
 * once space is freed, queuing goes on. Needs root (mount); CI runs as root.
 */

const root = process.getuid?.() === 0
const REPORT_BYTES = 16 * 1024

describe('report queue on a full disk', { skip: root ? false : 'needs root to mount a tmpfs' }, () => {
  let mountpoint: string
  let dir: string

  before(() => {
    mountpoint = mkdtempSync(join(tmpdir(), 'punchr-full-disk-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mountpoint])
    dir = join(mountpoint, 'reports')
  })
  after(() => {
    execFileSync('umount', [mountpoint])
    rmSync(mountpoint, { recursive: true, force: true })
  })

  it('refuses with a clear error, keeps what it had, and goes on once space is free', async () => {
    const queue = await ReportQueue.open({ dir, send: () => new Promise(() => undefined) })
    const written: { name: string; bytes: Uint8Array }[] = []
    let error: unknown
    for (let i = 0; i < 64 && error === undefined; i++) {
      const bytes = new Uint8Array(REPORT_BYTES).fill(i + 1)
      try {
        written.push({ name: await queue.enqueue(bytes), bytes })
      } catch (err) {
        error = err
      }
    }
    assert.ok(error instanceof QueueDiskFullError, `expected a disk-full error, got ${String(error)}`)
    assert.match(error.message, /no space left on the disk \(ENOSPC\).*every report queued before is intact/)
    assert.ok(written.length > 0 && written.length < 64, `${written.length} reports fitted`)

    // Nothing torn, no temporary file, every earlier report byte for byte.
    const files = readdirSync(dir).filter((f) => f !== 'rejected') // the folder for refused reports
    assert.deepEqual(files.sort(), written.map((w) => w.name).sort())
    for (const w of written) assert.deepEqual(new Uint8Array(readFileSync(join(dir, w.name))), w.bytes)
    assert.equal(queue.depth.reports, written.length)

    // A restart sees the same queue; after freeing space the next report is queued.
    const reopened = await ReportQueue.open({ dir, send: () => new Promise(() => undefined) })
    assert.deepEqual(reopened.queued(), queue.queued())
    rmSync(join(dir, written[0]!.name))
    const after = await ReportQueue.open({ dir, send: () => new Promise(() => undefined) })
    await after.enqueue(new Uint8Array(1024).fill(7))
    assert.equal(after.depth.reports, written.length)
  })
})
