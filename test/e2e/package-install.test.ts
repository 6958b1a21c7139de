import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePorts } from '../../src/client/ports.js'
import { runCampaign } from '../../src/lab/campaign/campaign.js'
import { programPath } from '../../src/lab/peers/launch.js'
import { labUnavailableReason } from '../../src/lab/preflight.js'
import { descendantsOf } from '../../src/lab/process-tree.js'
import { validateScenario } from '../../src/lab/scenario.js'
import { explainFailure } from '../support/campaign-failure.js'
import { until } from '../support/until.js'

/**
 * The volunteer's install: `npm pack` in this checkout, then `npm install -g` of the tarball into
 * a throw-away prefix by the machine's own Node and npm (20 here: nothing of the checkout's Node
 * 22 or its dev dependencies on PATH), and a NAT lab campaign whose client is the installed
 * package's. Then the same package without its native QUIC module, as on a platform it has no
 * prebuilt build for: the client measures TCP and says so.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PROJECT_BIN = join(ROOT, 'node_modules', '.bin')
const work = mkdtempSync(join(tmpdir(), 'punchr-package-'))
after(() => rmSync(work, { recursive: true, force: true }))

const skip = labUnavailableReason() ?? (existsSync(programPath('remote')) ? false : 'build first: npx tsc')

/** PATH as on a machine without this checkout: the project's Node 22 and tools left out. */
const machinePath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !dir.startsWith(ROOT.replace(/\/$/, '')))
  .join(delimiter)

/** Where the installed punchr keeps its files: inside the test's folder, not the user's home. */
const xdg = { XDG_CONFIG_HOME: join(work, 'config'), XDG_STATE_HOME: join(work, 'state') }

function run(command: string, args: string[], options: { cwd?: string; path?: string } = {}) {
  const res = spawnSync(command, args, {
    cwd: options.cwd ?? work,
    encoding: 'utf8',
    env: { ...process.env, ...xdg, PATH: options.path ?? machinePath, npm_config_update_notifier: 'false' },
    timeout: 300_000,
  })
  if (res.error !== undefined) throw res.error
  return { code: res.status, stdout: res.stdout, stderr: res.stderr }
}

function ok(result: { code: number | null; stdout: string; stderr: string }, what: string) {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

describe('the packed package', { skip, timeout: 900_000 }, () => {
  const prefix = join(work, 'prefix')
  const installed = join(prefix, 'lib', 'node_modules', 'punchr')
  let tarball = ''

  before(() => {
    // The developer's side: the checkout's Node 22 and protoc build what the package carries.
    const packed = ok(
      run('npm', ['pack', '--pack-destination', work], {
        cwd: ROOT,
        path: `${PROJECT_BIN}${delimiter}${machinePath}`,
      }),
      'npm pack',
    )
    tarball = join(work, packed.trim().split('\n').at(-1)!)
  })

  /** Cone ↔ cone, two rounds, measured by the installed package's client on its own Node. */
  const campaignWithInstalledClient = (name: string) =>
    runCampaign(
      validateScenario({
        name,
        relays: 1,
        bootstrap: 1,
        homes: [
          { name: 'home-a', nat: 'cone', hosts: [{ name: 'client-a', role: 'client' }] },
          { name: 'home-b', nat: 'cone', hosts: [{ name: 'remote-b', role: 'remote' }] },
        ],
        rounds: 2,
      }),
      {
        outDir: work,
        env: { PUNCHR_LOG_LEVEL: 'info' },
        // The volunteer's command: npm's link to the shell launcher, which execs the package's Node.
        clientCli: { node: '/bin/sh', script: join(prefix, 'bin', 'punchr') },
      },
    )

  it('carries only what it runs', () => {
    const files = ok(run('tar', ['tzf', tarball]), 'tar')
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''))
    for (const needed of [
      'bin/punchr',
      'bin/punchr.js',
      'dist/src/cli/main.js',
      'dist/src/gen/punchr_pb.js',
      'sql/migrations/0001_initial.sql',
      'src/dashboard/static/index.html',
      'scripts/apply-patches.js',
      'patches/@matrixai+quic+2.0.9.patch',
      'proto/punchr.proto',
      'README.md',
      'LICENSE',
    ])
      assert.ok(files.includes(needed), `${needed} missing from the package`)
    const unwanted = files.filter(
      (f) =>
        f.startsWith('test/') ||
        f.startsWith('bench/') ||
        f.startsWith('dist/test/') ||
        f.startsWith('dist/bench/') ||
        f.endsWith('.map') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        f.startsWith('node_modules/'),
    )
    assert.deepEqual(unwanted, [])
    // Every compiled module has its source: no stale copy of a deleted one ships.
    for (const f of files.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js')))
      assert.ok(existsSync(join(ROOT, f.slice('dist/'.length).replace(/\.js$/, '.ts'))), `${f} has no source`)
    assert.ok(statSync(tarball).size < 1_000_000, `package is ${statSync(tarball).size} bytes`)
  })

  it("installs with the machine's Node and npm alone, without dev dependencies, patched", () => {
    const machineNode = ok(run('node', ['--version']), 'node --version').trim()
    ok(
      run('npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', prefix, tarball]),
      'npm install -g',
    )
    const punchr = join(prefix, 'bin', 'punchr')
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
    assert.equal(ok(run(punchr, ['version']), 'punchr version').trim(), version)
    assert.match(ok(run(punchr, ['--help']), 'punchr --help'), /client +measurement client/)
    // Started by an older Node, bin/punchr.js hands over to the package's own Node 22.
    if (Number(machineNode.slice(1).split('.')[0]) < 22)
      assert.ok(existsSync(join(installed, 'node_modules', 'node', 'bin', 'node')))
    const modules = readdirSync(join(installed, 'node_modules'))
    for (const dev of ['typescript', '@biomejs', 'fast-check', 'playwright-core', '@grpc', 'patch-package'])
      assert.ok(!modules.includes(dev), `dev dependency ${dev} installed`)
    // The postinstall patched @matrixai/quic (docs/adr/0004-quic-stack.md).
    const quic = readFileSync(join(installed, 'node_modules/@matrixai/quic/dist/QUICConnection.js'), 'utf8')
    assert.match(quic, /Refuse new streams only when stopping or stopped/)
  })

  it('runs punchr up from the package: migrations, a new data folder, the dashboard', async () => {
    const [grpc, http, honeypot, honeypotHttp] = await freePorts('127.0.0.1', 4)
    const up = spawn(
      join(prefix, 'bin', 'punchr'),
      [
        'up',
        '--host',
        '127.0.0.1',
        '--port',
        `${grpc}`,
        '--http-port',
        `${http}`,
        '--data-dir',
        join(work, 'up-data'),
        '--honeypot-port',
        `${honeypot}`,
        '--honeypot-http-port',
        `${honeypotHttp}`,
        '--bootstrap-peers',
        '',
      ],
      { env: { ...process.env, ...xdg, PATH: machinePath, PUNCHR_LOG_LEVEL: 'warn' } },
    )
    let stdout = ''
    up.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    const exited = new Promise<number | null>((resolve) => up.once('exit', resolve))
    try {
      await until('punchr up prints the dashboard', () => stdout.includes('dashboard on '), 60_000)
      const status = (await (await fetch(`http://127.0.0.1:${http}/api/campaign-status`)).json()) as {
        results: { stored: boolean }
      }
      assert.equal(status.results.stored, false)
      const page = await (await fetch(`http://127.0.0.1:${http}/`)).text()
      assert.match(page, /<title>punchr/)
      // The launcher execs: the process started is punchr on the package's Node 22, alone
      // (a launcher in JavaScript kept the machine's Node beside it for punchr's whole life).
      assert.equal(
        realpathSync(`/proc/${up.pid}/exe`),
        realpathSync(join(installed, 'node_modules', 'node', 'bin', 'node')),
      )
      assert.deepEqual(descendantsOf(up.pid!), [])
    } finally {
      up.kill('SIGTERM')
    }
    assert.equal(await exited, 0)
    // The tray's command is there too (its desktop test runs from the checkout).
    assert.match(
      ok(run(join(prefix, 'bin', 'punchr'), ['tray', '--help']), 'punchr tray --help'),
      /--status-interval/,
    )
  })

  it('runs from the tarball with npx, its dependencies hoisted beside it', () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
    const file = `./${tarball.split('/').at(-1)}`
    assert.equal(ok(run('npx', ['--yes', file, 'version']), 'npx').trim(), version)
  })

  it('measures in the NAT lab: the client is the installed package', async (t) => {
    const result = await campaignWithInstalledClient('package-client')
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, explainFailure(result))
    assert.deepEqual(
      result.verdict.rounds.map(({ round }) => round.outcome),
      ['SUCCESS', 'SUCCESS'],
    )
  })

  it('without its native QUIC module, the client measures TCP and says so', async (t) => {
    // As on a platform @matrixai/quic has no prebuilt build for (linux-arm64, a Raspberry Pi).
    const native = join(installed, 'node_modules', '@matrixai', `quic-${process.platform}-${process.arch}`)
    assert.ok(existsSync(native), `${native} not installed`)
    rmSync(native, { recursive: true })
    const result = await campaignWithInstalledClient('package-client-no-quic')
    for (const line of result.table.split('\n')) t.diagnostic(line)
    assert.ok(result.ok, explainFailure(result))
    const rounds = result.verdict.rounds.map(({ round }) => round)
    assert.deepEqual(
      rounds.map((r) => `${r.outcome} ${r.transport}`),
      ['SUCCESS tcp', 'SUCCESS tcp'],
    )
    const log = readFileSync(join(result.folder.logs, 'client-a-client.log'), 'utf8')
    assert.match(log, /measuring tcp only: QUIC cannot run on this machine/)
    assert.match(log, new RegExp(`QUIC is not available on ${process.platform}-${process.arch}`))
    // Asked for QUIC alone, it refuses with what to do instead.
    const quicOnly = run(join(prefix, 'bin', 'punchr'), ['client', '--api-key', 'k', '--transports', 'quic'])
    assert.equal(quicOnly.code, 2, quicOnly.stderr)
    assert.match(quicOnly.stderr, /measure with --transports tcp on this machine/)
  })
})
