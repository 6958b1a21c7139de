#!/usr/bin/env node
// `npm test`: build, lint, generated-code check, then every test file, stopping at the first
// failing step with what to do next. A throw-away PostgreSQL cluster is started for the tests
// (unless PUNCHR_TEST_POSTGRES_URL names a server of one's own) and always stopped again.
//
//   npm test                               everything
//   npm test -- unit                       one folder of test/ (unit, integration, wire, interop, e2e)
//   npm test -- test/unit/foo.test.ts      files whose path contains the argument
//   npm test -- --test-name-pattern=x      only tests whose name matches (also --test-skip-pattern=x, --test-only)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve, sep } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const binDir = join(root, 'node_modules', '.bin')
const projectNode = join(binDir, 'node')

// The tests need the project's Node 22 (the `node` package); `npm test` puts it first on PATH.
// Started by another node (`node scripts/test.js` with the machine's 20), run again under it.
if (Number(process.versions.node.split('.')[0]) < 22) {
  if (!existsSync(projectNode) || realpathSync(projectNode) === realpathSync(process.execPath)) {
    console.error(`npm test needs Node >= 22 (this is ${process.version}); run npm install first`)
    process.exit(1)
  }
  const again = spawn(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  // Pass signals on, so that `kill <this pid>` still stops the run and its PostgreSQL cleanly.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => again.kill(signal))
  again.once('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)))
  // Everything below runs in the child.
  await new Promise(() => {})
}

process.chdir(root)
const nodeBin = process.execPath
// Tools (tsc, biome, protoc-gen-es) and their `#!/usr/bin/env node` find the project's node.
process.env.PATH = `${binDir}${delimiter}${process.env.PATH ?? ''}`
// Test output stays readable; PUNCHR_LOG_LEVEL=debug npm test shows everything.
process.env.PUNCHR_LOG_LEVEL ??= 'warn'

/**
 * Test folders in the order they run: fast and independent first, the NAT lab last. interop
 * (Go programs against our server and in the lab) builds its Go binaries on first use.
 */
const FOLDER_ORDER = ['unit', 'integration', 'wire', 'interop', 'e2e']
/**
 * Per test file (node 22's run() API has no per-test default; tests that may hang set their
 * own `{ timeout }`). Generous because an e2e file runs whole NAT lab scenarios; CI stops at 90 min.
 */
const TEST_FILE_TIMEOUT_MS = Number(process.env.PUNCHR_TEST_FILE_TIMEOUT_MS || 15 * 60_000)

const started = Date.now()
let current // the running step's child process
let abortTests // aborts the test run, once it started
let postgres // the postgres-cli.js child, when we started one
let interrupted = false
let tapDir // the TAP output folder, removed by finish()

// Whoever reads our output may go away (`npm test | head`); carry on regardless, so that the
// cluster still gets stopped, instead of dying on EPIPE or stalling the reporter pipe.
let outputGone = false
process.stdout.on('error', () => {
  outputGone = true
})
process.stderr.on('error', () => undefined)

const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`
const say = (line = '') => {
  if (!outputGone) process.stdout.write(`${line}\n`)
}
say(`npm test on node ${process.version} in ${root}`)

function run(command, args) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: 'inherit' })
    current = child
    child.once('error', (err) => {
      current = undefined
      resolvePromise({ code: 127, error: err })
    })
    child.once('exit', (code, signal) => {
      current = undefined
      resolvePromise({ code: code ?? (signal ? 128 : 1), signal })
    })
  })
}

let stepNumber = 0
const totalSteps = 4
const heading = (title, shown) => say(`\n==> [${++stepNumber}/${totalSteps}] ${title}: ${shown}`)

async function step(title, shown, command, args, hint) {
  heading(title, shown)
  const t0 = Date.now()
  const result = await run(command, args)
  const took = seconds(Date.now() - t0)
  if (interrupted) await finish(130, 'interrupted')
  if (result.code !== 0) {
    const why = result.error ? ` (${result.error.message})` : ''
    say(`\n✗ ${title} failed after ${took}${why}`)
    await finish(result.code || 1, `${title} failed — ${hint}`)
  }
  say(`✓ ${title} (${took})`)
}

let finishing = false
/** Stops our PostgreSQL (if any), prints the closing line and exits. */
async function finish(code, message) {
  // A signal arriving while we already wind down must not print a second verdict.
  if (finishing) return new Promise(() => {})
  finishing = true
  await stopPostgres()
  if (tapDir !== undefined) rmSync(tapDir, { recursive: true, force: true })
  const total = seconds(Date.now() - started)
  say(`\nnpm test: ${code === 0 ? 'OK' : 'FAILED'} — ${message} (${total})`)
  process.exit(code)
}

function onSignal(signal) {
  if (interrupted) return
  interrupted = true
  // Children in our process group got a terminal's Ctrl-C already; a signal sent to us alone
  // is passed on so nothing keeps running.
  current?.kill('SIGTERM')
  abortTests?.()
  if (current === undefined && abortTests === undefined) void finish(130, `interrupted by ${signal}`)
  // Whatever we were waiting for may never end (an aborted run that had already finished):
  // give it a few seconds, then wind down anyway.
  setTimeout(() => void finish(130, `interrupted by ${signal}`), 10_000).unref()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

// ── which test files ────────────────────────────────────────────────────────────────────────

const argv = process.argv.slice(2)
const filters = argv.filter((a) => !a.startsWith('-'))
const testNamePatterns = []
const testSkipPatterns = []
let only = false
for (const flag of argv.filter((a) => a.startsWith('-'))) {
  const [name, value] = flag.split(/=(.*)/s)
  if (name === '--test-name-pattern' && value) testNamePatterns.push(value)
  else if (name === '--test-skip-pattern' && value) testSkipPatterns.push(value)
  else if (name === '--test-only') only = true
  else {
    say(`npm test: unknown option ${flag} (known: --test-name-pattern=…, --test-skip-pattern=…, --test-only)`)
    process.exit(2)
  }
}

/** Every test/**\/*.test.ts, as paths relative to the root, in run order. */
function testSources() {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const rel = `${dir}/${e.name}`
      if (e.isDirectory()) return e.name === 'fixtures' || e.name === 'support' ? [] : walk(rel)
      return e.name.endsWith('.test.ts') ? [rel] : []
    })
  const rank = (file) => {
    const i = FOLDER_ORDER.indexOf(file.split('/')[1])
    return i < 0 ? FOLDER_ORDER.length : i
  }
  return walk('test').sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

/** A folder (`unit`, `test/unit`) selects that folder; anything else selects paths containing it. */
function matches(file, filter) {
  const norm = filter
    .split(sep)
    .join('/')
    .replace(/^\.\//, '')
    .replace(/^dist\//, '')
    .replace(/\.js$/, '.ts')
    .replace(/\/$/, '')
  for (const folder of [norm, `test/${norm}`]) {
    if (existsSync(folder) && statSync(folder).isDirectory()) return file.startsWith(`${folder}/`)
  }
  return file.includes(norm)
}

// ── PostgreSQL for the tests ────────────────────────────────────────────────────────────────

/** Starts dist/test/support/postgres-cli.js and waits for its one JSON line. */
async function startPostgres() {
  // stdin is a pipe we never write to: when we die, it closes and the cluster stops itself.
  const child = spawn(nodeBin, [join('dist', 'test', 'support', 'postgres-cli.js')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  child.exited = new Promise((resolvePromise) => child.once('exit', resolvePromise))
  postgres = child
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise((resolvePromise) => {
    lines.once('line', resolvePromise)
    lines.once('close', () => resolvePromise(undefined))
  })
  lines.close()
  child.stdout.resume()
  let message
  try {
    message = JSON.parse(first ?? '')
  } catch {
    message = { error: `postgres-cli.js ended without a result (${first ?? 'no output'})` }
  }
  if (message.url === undefined) {
    await child.exited
    postgres = undefined
  }
  return message
}

async function stopPostgres() {
  const child = postgres
  postgres = undefined
  if (child === undefined) return
  say('\nstopping the test PostgreSQL cluster')
  child.kill('SIGTERM')
  await child.exited
}

// ── the steps ───────────────────────────────────────────────────────────────────────────────

const sources = testSources()
const selected =
  filters.length === 0 ? sources : sources.filter((f) => filters.some((flt) => matches(f, flt)))
if (selected.length === 0) {
  say(`npm test: no test file matches ${filters.join(' ')}; test files are:\n  ${sources.join('\n  ')}`)
  process.exit(1)
}

await step(
  'build',
  'tsc -p tsconfig.json',
  'tsc',
  ['-p', 'tsconfig.json'],
  'fix the type errors above (npm run typecheck), then run npm test again',
)
await step(
  'lint and format',
  'biome check .',
  'biome',
  ['check', '.'],
  'run `npx biome check --write .` for the fixable ones, fix the rest by hand, then run npm test again',
)
await step(
  'generated code is fresh',
  'node scripts/check-generated.js',
  nodeBin,
  [join('scripts', 'check-generated.js')],
  'run npm run generate and commit the result',
)

const needsPostgres = selected.some((f) => !f.startsWith('test/unit/'))
if (needsPostgres) {
  if (process.env.PUNCHR_TEST_POSTGRES_URL) {
    const shown = process.env.PUNCHR_TEST_POSTGRES_URL.replace(/\/\/[^@/]*@/, '//***@')
    say(`\nusing the PostgreSQL server of PUNCHR_TEST_POSTGRES_URL=${shown}`)
  } else {
    say('\nstarting a throw-away PostgreSQL cluster for the tests')
    const t0 = Date.now()
    const pg = await startPostgres()
    if (interrupted) await finish(130, 'interrupted')
    if (pg.url !== undefined) {
      say(`PostgreSQL ready at ${pg.url} (${seconds(Date.now() - t0)}, data in ${pg.dir})`)
      process.env.PUNCHR_TEST_POSTGRES_URL = pg.url
    } else {
      // The tests against PostgreSQL fail with this reason; the others still run and report.
      say(`\n!! could not start PostgreSQL: ${pg.error}\n!! the tests against PostgreSQL will fail`)
      process.env.PUNCHR_TEST_POSTGRES_ERROR = pg.error
    }
  }
}

const files = selected.map((f) => join(root, 'dist', f.replace(/\.ts$/, '.js')))
const missing = files.filter((f) => !existsSync(f))
if (missing.length > 0)
  await finish(1, `tsc did not produce ${missing.join(', ')}; check tsconfig.json's include`)

heading('tests', `node --test, ${files.length} file(s) in the order ${FOLDER_ORDER.join(', ')}`)
// node's test runner through its API rather than `node --test`: the CLI sorts files by path,
// which would run integration before unit. One run keeps one closing summary.
const { run: runTests } = await import('node:test')
const { spec, tap } = await import('node:test/reporters')
const controller = new AbortController()
abortTests = () => controller.abort()
const t0 = Date.now()
const tests = runTests({
  files,
  concurrency: 1,
  timeout: TEST_FILE_TIMEOUT_MS,
  signal: controller.signal,
  ...(testNamePatterns.length > 0 ? { testNamePatterns } : {}),
  ...(testSkipPatterns.length > 0 ? { testSkipPatterns } : {}),
  ...(only ? { only } : {}),
})
let success = false
tests.on('test:summary', (summary) => {
  // One summary per file, then the overall one (no file).
  if (summary.file === undefined) success = summary.success
})
// Besides the spec output, TAP goes to a file whose closing `# tests/# pass/# fail` lines are
// repeated at the end, so the verdict is the last thing in the log in the runner's own words.
tapDir = mkdtempSync(join(tmpdir(), 'punchr-test-'))
const tapFile = join(tapDir, 'results.tap')
const specOut = tests.compose(spec)
specOut.pipe(process.stdout, { end: false })
const specDone = new Promise((resolvePromise) => {
  specOut.once('end', resolvePromise)
  // Without a reader the spec stream would never end: drain it into nothing instead.
  process.stdout.once('error', () => {
    specOut.unpipe(process.stdout)
    specOut.resume()
    resolvePromise()
  })
})
const tapOut = tests.compose(tap).pipe(createWriteStream(tapFile))
await Promise.all([specDone, once(tapOut, 'finish')])
abortTests = undefined
const took = seconds(Date.now() - t0)

const summary = readFileSync(tapFile, 'utf8')
  .split('\n')
  .filter((line) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(line))
say(`\n${summary.join('\n')}`)

const count = (name) => summary.find((l) => l.startsWith(`# ${name} `))?.split(' ')[2] ?? '?'
if (interrupted) await finish(130, 'interrupted')
if (!success) {
  say(`\n✗ tests failed after ${took}`)
  const parts = []
  if (count('fail') !== '0') parts.push(`${count('fail')} failed`)
  if (count('cancelled') !== '0')
    parts.push(`${count('cancelled')} cancelled (a failed hook, or a file that crashed or timed out)`)
  const what = parts.length > 0 ? `${parts.join(', ')} of ${count('tests')} tests` : 'the test run failed'
  await finish(1, `${what} — see the ✖ entries above; rerun a file with npm test -- <path>`)
}
say(`✓ tests (${took})`)
await finish(0, `${count('pass')} tests passed`)
