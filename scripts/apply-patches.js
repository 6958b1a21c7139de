#!/usr/bin/env node
// npm install's postinstall: applies the patches in patches/ to the dependencies they name.
//
// A checkout and an installed package tarball both run it, so it cannot rely on patch-package
// (a dev dependency, absent from an installed package) nor on the dependency living in our own
// node_modules: `npm install -g` nests it there, but `npx` and a project that depends on punchr
// hoist it to a node_modules further up. It therefore looks the package up as Node's resolver
// would and applies each hunk by its exact text.
//
// Patch files keep patch-package's naming and format (`<scope>+<name>+<version>.patch`, a git
// diff with paths under node_modules/), so `npx patch-package <name>` still regenerates one.
// Applying is idempotent: a hunk whose new text is already there is skipped. A hunk whose old
// text is missing means the dependency changed under the patch: that fails the install, since
// running on an unpatched dependency would be a silent wrong measurement (docs/adr/0004).
//
// Plain JavaScript on purpose: npm runs it with whatever Node it has (20 on some machines),
// before our own Node 22 and build exist.
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const patchesDir = join(root, 'patches')

/** `@matrixai+quic+2.0.9.patch` → { name: '@matrixai/quic', version: '2.0.9' } */
export function parsePatchFileName(file) {
  const match = /^(.+)\+([^+]+)\.patch$/.exec(file)
  if (match === null) throw new Error(`${file}: not named <package>+<version>.patch`)
  return { name: match[1].replace('+', '/'), version: match[2] }
}

/** The folder of an installed package as Node resolves it from `from`: the nearest node_modules up. */
export function findPackageDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/**
 * The file diffs of a patch: for each file, its path inside the package and its hunks, each as
 * the text before and after.
 */
export function parsePatch(text, packageName) {
  const prefix = `a/node_modules/${packageName}/`
  const files = []
  let hunk
  for (const line of text.split('\n')) {
    if (line.startsWith('diff --git ')) {
      const path = line.split(' ')[2]
      if (!path.startsWith(prefix)) throw new Error(`patch touches ${path}, outside ${packageName}`)
      files.push({ path: path.slice(prefix.length), hunks: [] })
      hunk = undefined
    } else if (line.startsWith('@@')) {
      if (files.length === 0) throw new Error('hunk before any file header')
      hunk = { before: [], after: [] }
      files[files.length - 1].hunks.push(hunk)
    } else if (hunk !== undefined) {
      const body = line.slice(1)
      if (line.startsWith(' ')) {
        hunk.before.push(body)
        hunk.after.push(body)
      } else if (line.startsWith('-')) hunk.before.push(body)
      else if (line.startsWith('+')) hunk.after.push(body)
      // "\ No newline at end of file" and the blank line ending the file carry no text.
    }
  }
  return files.map((f) => ({
    path: f.path,
    hunks: f.hunks.map((h) => ({ before: h.before.join('\n'), after: h.after.join('\n') })),
  }))
}

function occurrences(text, part) {
  let count = 0
  for (let at = text.indexOf(part); at !== -1; at = text.indexOf(part, at + 1)) count++
  return count
}

/** Applies one file's hunks to its text; returns the new text and how many hunks were applied. */
export function applyHunks(text, hunks, where) {
  let applied = 0
  for (const [i, { before, after }] of hunks.entries()) {
    // Applied by an earlier install. Checked first: a hunk that only adds lines has its old
    // text inside its new one, and would otherwise be applied again.
    if (occurrences(text, after) === 1) continue
    const found = occurrences(text, before)
    if (found === 1) {
      text = text.replace(before, () => after)
      applied++
    } else {
      throw new Error(
        `${where}: hunk ${i + 1} ${found === 0 ? 'does not match' : 'matches more than once'}; ` +
          'the dependency differs from the version the patch was made for',
      )
    }
  }
  return { text, applied }
}

function applyPatchFile(file) {
  const { name, version } = parsePatchFileName(file)
  const dir = findPackageDir(name, root)
  if (dir === undefined) throw new Error(`${file}: ${name} is not installed`)
  const installed = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version
  if (installed !== version)
    throw new Error(`${file}: made for ${name} ${version}, installed is ${installed}`)
  let applied = 0
  for (const { path, hunks } of parsePatch(readFileSync(join(patchesDir, file), 'utf8'), name)) {
    const target = join(dir, path)
    const result = applyHunks(readFileSync(target, 'utf8'), hunks, `${file} on ${path}`)
    if (result.applied > 0) writeFileSync(target, result.text)
    applied += result.applied
  }
  return `${name}@${version} ${applied > 0 ? `patched (${applied} hunks)` : 'already patched'}`
}

if (
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
) {
  const files = existsSync(patchesDir) ? readdirSync(patchesDir).filter((f) => f.endsWith('.patch')) : []
  try {
    for (const file of files.sort()) console.log(`punchr postinstall: ${applyPatchFile(file)}`)
  } catch (err) {
    console.error(`punchr postinstall: ${err.message}`)
    console.error('reinstall punchr; if this persists, report it with the output of `npm ls @matrixai/quic`')
    process.exit(1)
  }
}
