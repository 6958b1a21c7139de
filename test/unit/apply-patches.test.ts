import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** scripts/apply-patches.js: the postinstall that patches dependencies in a checkout and an installed package. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

interface Hunk {
  before: string
  after: string
}
interface ApplyPatches {
  parsePatchFileName(file: string): { name: string; version: string }
  findPackageDir(name: string, from: string): string | undefined
  parsePatch(text: string, packageName: string): { path: string; hunks: Hunk[] }[]
  applyHunks(text: string, hunks: Hunk[], where: string): { text: string; applied: number }
}
const script = (await import(pathToFileURL(join(ROOT, 'scripts', 'apply-patches.js')).href)) as ApplyPatches

const PATCH = `diff --git a/node_modules/@x/y/dist/a.js b/node_modules/@x/y/dist/a.js
index 1..2 100644
--- a/node_modules/@x/y/dist/a.js
+++ b/node_modules/@x/y/dist/a.js
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
`

const work = mkdtempSync(join(tmpdir(), 'punchr-patches-'))
after(() => rmSync(work, { recursive: true, force: true }))

describe('apply-patches', () => {
  it("reads patch-package's file names, scoped or not", () => {
    assert.deepEqual(script.parsePatchFileName('@matrixai+quic+2.0.9.patch'), {
      name: '@matrixai/quic',
      version: '2.0.9',
    })
    assert.deepEqual(script.parsePatchFileName('left-pad+1.3.0.patch'), {
      name: 'left-pad',
      version: '1.3.0',
    })
    assert.throws(() => script.parsePatchFileName('notes.txt'), /not named/)
  })

  it('turns each hunk into the text before and after', () => {
    assert.deepEqual(script.parsePatch(PATCH, '@x/y'), [
      { path: 'dist/a.js', hunks: [{ before: 'one\ntwo\nthree', after: 'one\nTWO\nthree' }] },
    ])
    assert.throws(() => script.parsePatch(PATCH, '@x/z'), /outside @x\/z/)
  })

  it('applies once, skips what is applied, and refuses a file that changed', () => {
    const [file] = script.parsePatch(PATCH, '@x/y')
    const first = script.applyHunks('zero\none\ntwo\nthree\n', file!.hunks, 'a.js')
    assert.deepEqual(first, { text: 'zero\none\nTWO\nthree\n', applied: 1 })
    assert.deepEqual(script.applyHunks(first.text, file!.hunks, 'a.js'), { text: first.text, applied: 0 })
    assert.throws(() => script.applyHunks('one\n2\nthree\n', file!.hunks, 'a.js'), /hunk 1 does not match/)
    assert.throws(
      () => script.applyHunks('one\ntwo\nthree\none\ntwo\nthree\n', file!.hunks, 'a.js'),
      /matches more than once/,
    )
  })

  it('does not apply twice a hunk that only adds lines', () => {
    const adding = [{ before: 'one\ntwo', after: 'one\ntwo\nfour' }]
    const first = script.applyHunks('one\ntwo\nthree\n', adding, 'a.js')
    assert.deepEqual(first, { text: 'one\ntwo\nfour\nthree\n', applied: 1 })
    assert.deepEqual(script.applyHunks(first.text, adding, 'a.js'), { text: first.text, applied: 0 })
  })

  it('finds a dependency nested in the package or hoisted above it', () => {
    const hoisted = join(work, 'node_modules', '@x', 'y')
    const pkg = join(work, 'node_modules', 'punchr')
    for (const dir of [hoisted, pkg]) {
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'package.json'), '{}')
    }
    assert.equal(script.findPackageDir('@x/y', pkg), hoisted)
    const nested = join(pkg, 'node_modules', '@x', 'y')
    mkdirSync(nested, { recursive: true })
    writeFileSync(join(nested, 'package.json'), '{}')
    assert.equal(script.findPackageDir('@x/y', pkg), nested)
    assert.equal(script.findPackageDir('@x/absent', pkg), undefined)
  })

  it("has patched this checkout's @matrixai/quic", () => {
    const [file] = script.parsePatch(
      readFileSync(join(ROOT, 'patches', '@matrixai+quic+2.0.9.patch'), 'utf8'),
      '@matrixai/quic',
    )
    const installed = readFileSync(join(ROOT, 'node_modules', '@matrixai', 'quic', file!.path), 'utf8')
    for (const hunk of file!.hunks) assert.ok(installed.includes(hunk.after))
  })
})
