#!/usr/bin/env node
// Fails when src/gen/ is not what `npm run generate` makes from proto/ today: someone edited
// the .proto without regenerating, or edited generated code by hand. The command is read from
// package.json's `generate` script (only the output folder swapped for a temp one), so this
// check can never drift from what developers run.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const FIX = 'run `npm run generate` and commit the result'

function fail(message) {
  console.error(`check-generated: ${message}`)
  process.exit(1)
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const command = pkg.scripts?.generate
if (typeof command !== 'string') fail('package.json has no `generate` script')
// The script is plain words without quoting; splitting on spaces is exact for it.
const [program, ...args] = command.trim().split(/\s+/)
const outArg = args.findIndex((a) => a.startsWith('--es_out='))
if (program !== 'protoc' || outArg < 0)
  fail(`expected \`protoc … --es_out=<dir> …\` in the generate script, got: ${command}`)
const genDir = join(root, args[outArg].slice('--es_out='.length))

const tmp = mkdtempSync(join(tmpdir(), 'punchr-gen-'))
try {
  args[outArg] = `--es_out=${tmp}`
  // protoc-gen-es is a node script: put the project's node (22) first, as npm scripts do.
  const env = {
    ...process.env,
    PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
  }
  const run = spawnSync(program, args, { cwd: root, env, encoding: 'utf8' })
  if (run.error?.code === 'ENOENT') {
    fail('protoc not found: install protobuf-compiler (apt-get install protobuf-compiler)')
  }
  if (run.status !== 0) fail(`protoc failed (exit ${run.status}):\n${run.stdout}${run.stderr}`)

  const problems = []
  for (const file of listFiles(tmp)) {
    const rel = relative(tmp, file)
    const committed = join(genDir, rel)
    const shown = relative(root, committed)
    if (!existsSync(committed)) {
      problems.push(`${shown} is missing`)
      continue
    }
    const want = readFileSync(file, 'utf8')
    const have = readFileSync(committed, 'utf8')
    if (want !== have)
      problems.push(`${shown} differs from freshly generated code:\n${diff(committed, file, want, have)}`)
  }
  if (problems.length > 0) fail(`generated code is stale: ${FIX}\n\n${problems.join('\n\n')}`)
  console.log(`check-generated: ${relative(root, genDir)}/ matches \`npm run generate\``)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)],
  )
}

/** A unified diff when `diff` exists, else the first differing line; capped to stay readable. */
function diff(committedPath, freshPath, want, have) {
  const run = spawnSync(
    'diff',
    ['-u', '--label', 'committed', '--label', 'generated', committedPath, freshPath],
    {
      encoding: 'utf8',
    },
  )
  if (typeof run.stdout === 'string' && run.stdout !== '') {
    // Long lines (the embedded descriptor is one line of base64) are cut to stay readable.
    const lines = run.stdout.split('\n').map(cut)
    return lines.length > 60
      ? `${lines.slice(0, 60).join('\n')}\n… (${lines.length - 60} more diff lines)`
      : lines.join('\n')
  }
  const a = have.split('\n')
  const b = want.split('\n')
  const i = a.findIndex((line, n) => line !== b[n])
  const at = i < 0 ? Math.min(a.length, b.length) : i
  return `first difference at line ${at + 1}:\n- ${cut(a[at] ?? '(end of file)')}\n+ ${cut(b[at] ?? '(end of file)')}`
}

function cut(line) {
  return line.length > 160 ? `${line.slice(0, 160)}…` : line
}
