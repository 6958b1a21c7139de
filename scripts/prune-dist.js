#!/usr/bin/env node
// `npm pack`'s last build step: removes compiled files under dist/ whose TypeScript source is
// gone. tsc writes what exists and never deletes, so a renamed module would otherwise ship as a
// stale copy inside the package tarball. Removing only orphans (not the whole of dist/) keeps a
// test run that uses dist/ at the same time working.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')

let removed = 0
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue
  const compiled = join(entry.parentPath, entry.name)
  const source = join(root, relative(dist, compiled)).replace(/\.js(\.map)?$/, '.ts')
  if (source.endsWith('.ts') && !existsSync(source)) {
    rmSync(compiled)
    removed++
  }
}
if (removed > 0) console.log(`prune-dist: removed ${removed} compiled files without a source`)
