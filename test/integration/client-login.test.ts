// A volunteer's first start: `punchr client` without a key says what to do; `punchr login`
// stores the key where the client reads it (mode 0600, atomically, the folder created),
// refuses what cannot be a key, checks it with the server's Register on request; and a client
// started afterwards measures with it, as does `punchr client --save-api-key` (`-`: from stdin);
// a key the server refuses stops the client with exit code 2 (no service restart). Real processes
// against a real server (PGlite) and a js-libp2p relay as bootstrap peer on 127.0.0.1; the one
// remote seeded holds no reservation, so the round ends NO_CONNECTION at once.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Database } from '../../src/db/database.js'
import { PUNCHR_BIN } from '../support/cli.js'
import { openTestDatabase } from '../support/databases.js'
import { newPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { startTestServer, type TestServer } from '../support/server.js'

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8)

/**
 * Runs `punchr <args>` to completion without blocking this process (test/support/cli.ts's
 * spawnSync would stall the server and the relay this test runs in-process).
 */
function punchr(
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [PUNCHR_BIN, ...args], {
    env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  child.stdin.end(input)
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

describe('first run and punchr login', { timeout: 180_000 }, () => {
  let db: Database
  let t: TestServer
  let relay: Libp2p
  let dir: string
  let home = 0

  /** A fresh XDG_CONFIG_HOME / XDG_STATE_HOME pair: a volunteer's empty machine. */
  const freshHome = () => {
    const base = join(dir, `home-${++home}`)
    return {
      env: { XDG_CONFIG_HOME: join(base, 'config'), XDG_STATE_HOME: join(base, 'state'), HOME: base },
      keyFile: join(base, 'config', 'punchr', 'api.key'),
    }
  }

  /** One round against the test server with the key the client finds by itself. */
  const measureOnce = async (env: Record<string, string>, extra: string[] = [], input?: string) => {
    await seenByHoneypot(db, await newPeer(), {
      through: relay.getMultiaddrs()[0]!.toString(),
      agentVersion: 'js-libp2p (login test)',
    })
    return punchr(
      [
        'client',
        ...extra,
        ...['--server', `127.0.0.1:${t.server.grpcPort}`, '--rounds', '1', '--host-count', '1'],
        ...['--listen-host', '127.0.0.1', '--ip', 'ip4', '--transports', 'tcp'],
        ...['--bootstrap-peers', relay.getMultiaddrs()[0]!.toString(), '--punch-private-addrs'],
        ...['--no-port-mapping', '--router-probe', 'off', '--metrics-port', '0'],
      ],
      env,
      input,
    )
  }

  const storedFor = async (user: string) =>
    Number(
      (
        await db.query<{ n: number | string }>(
          `SELECT count(*) AS n FROM hole_punch_results r JOIN clients c ON c.id = r.client_id
           JOIN authorizations k ON k.id = c.authorization_id WHERE k.username = $1`,
          [user],
        )
      )[0]!.n,
    )

  before(async () => {
    db = await openTestDatabase('pglite')
    t = await startTestServer(db)
    relay = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), relay: circuitRelayServer() },
    })
    dir = await mkdtemp(join(tmpdir(), 'punchr-login-'))
  })
  after(async () => {
    await relay?.stop()
    await t?.stop()
    await db?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('without a key the client says what a key is for, where to get it and where to put it (exit 2)', async () => {
    const { env, keyFile } = freshHome()
    const res = await punchr(['client', '--server', '127.0.0.1:1'], env)
    assert.equal(res.code, 2, res.stderr)
    const message = res.stderr
    assert.match(message, /^punchr client: no API key yet\./)
    assert.match(message, /Ask the campaign's operator/)
    assert.match(message, /`punchr keys add --user <your name>`\s+on the server/)
    assert.match(message, /--open-registration/)
    assert.match(message, /`punchr login <key>` \(it goes to (.+), mode 0600\)/)
    assert.ok(message.includes(keyFile), `names ${keyFile}`)
    assert.match(message, /--api-key <key>/)
    assert.match(message, /PUNCHR_CLIENT_API_KEY=<key>/)
    assert.ok(message.split('\n').length <= 8, 'one short paragraph')

    const custom = join(dir, 'elsewhere.key')
    const withFile = await punchr(['client', '--api-key-file', custom], env)
    assert.equal(withFile.code, 2)
    assert.ok(withFile.stderr.includes(`punchr login <key> --api-key-file ${custom}`), withFile.stderr)
  })

  it('login stores the key in the file the client reads, mode 0600, and the client measures with it', async () => {
    const { env, keyFile } = freshHome()
    const key = await t.addKey('login-user')
    const res = await punchr(['login', key], env)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stdout, `API key stored in ${keyFile}, mode 0600; punchr client uses it\n`)
    assert.equal(await readFile(keyFile, 'utf8'), `${key}\n`)
    assert.equal(await mode(keyFile), '600')
    assert.equal(await mode(join(keyFile, '..')), '700', 'the folder it made is private too')

    const run = await measureOnce(env)
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^round 1 .* NO_CONNECTION /m)
    assert.equal(await storedFor('login-user'), 1, 'the round was reported under the stored key')
  })

  it('replaces an older key and tightens a file that was readable by others', async () => {
    const { env, keyFile } = freshHome()
    await mkdir(join(keyFile, '..'), { recursive: true })
    await writeFile(keyFile, 'pk_old\n')
    await chmod(keyFile, 0o644)
    const res = await punchr(['login', '  pk_new-key_1  '], env)
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /\(it replaces the key that was there\)/)
    assert.equal(await readFile(keyFile, 'utf8'), 'pk_new-key_1\n', 'blanks around a pasted key go')
    assert.equal(await mode(keyFile), '600')
  })

  it('refuses what cannot be a key, without repeating it, and stores nothing', async () => {
    const { env, keyFile } = freshHome()
    const cases: [string[], RegExp][] = [
      [['login'], /no key given; usage: punchr login <key>/],
      [['login', 'pk_one', 'pk_two'], /one key only/],
      [['login', ''], /the API key is empty/],
      [['login', 'pk_a b'], /has a blank \(U\+0020\) at character 5/],
      [['login', 'pk_a\u0007b'], /an invisible character \(U\+0007\)/],
      [['login', 'pk_\u200bsecret'], /an invisible character \(U\+200B\)/],
      [['login', `pk_${'x'.repeat(600)}`], /603 characters, more than 512/],
    ]
    for (const [args, expected] of cases) {
      const res = await punchr(args, env)
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`)
      assert.match(res.stderr, expected)
      assert.doesNotMatch(res.stderr, /secret|pk_a/, 'the key is not echoed')
    }
    await assert.rejects(stat(keyFile), { code: 'ENOENT' })
  })

  it('reads the key from stdin with -, and honours the client’s PUNCHR_CLIENT_API_KEY_FILE', async () => {
    const { env } = freshHome()
    const file = join(dir, 'from-env', 'client.key')
    const res = await punchr(['login', '-'], { ...env, PUNCHR_CLIENT_API_KEY_FILE: file }, 'pk_from_stdin\n')
    assert.equal(res.code, 0, res.stderr)
    assert.equal(await readFile(file, 'utf8'), 'pk_from_stdin\n')
    assert.equal(await mode(file), '600')
  })

  it('--check asks Register first: a refused key is not stored, a good one is', async () => {
    const { env, keyFile } = freshHome()
    const server = ['--server', `127.0.0.1:${t.server.grpcPort}`]
    const refused = await punchr(['login', 'pk_nobody_knows_me', '--check', ...server], env)
    assert.equal(refused.code, 1)
    assert.match(
      refused.stderr,
      /refused the key \(Unauthenticated\): .*unknown API key; the key was not stored/,
    )
    await assert.rejects(stat(keyFile), { code: 'ENOENT' })

    const down = await punchr(['login', 'pk_x', '--check', '--server', '127.0.0.1:1'], env)
    assert.equal(down.code, 1)
    assert.match(down.stderr, /could not reach the server at 127\.0\.0\.1:1/)

    const key = await t.addKey('checked-user')
    const ok = await punchr(['login', key, '--check', ...server], env)
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /takes the key\nAPI key stored in /)
    assert.equal(await readFile(keyFile, 'utf8'), `${key}\n`)
    // The host Register bound to the key is the client's own first host, not a stray one.
    const run = await measureOnce(env)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(await storedFor('checked-user'), 1)
    const hosts = await db.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM clients c JOIN authorizations k ON k.id = c.authorization_id
       WHERE k.username = 'checked-user'`,
    )
    assert.equal(Number(hosts[0]!.n), 1)
  })

  it('punchr client --save-api-key stores the key, then measures with it', async () => {
    const { env, keyFile } = freshHome()
    const key = await t.addKey('saver')
    const run = await measureOnce(env, ['--save-api-key', key])
    assert.equal(run.code, 0, run.stderr)
    // The key on the command line shows in ps while the client runs: it says how to avoid that.
    assert.ok(
      run.stdout.startsWith(
        `API key stored in ${keyFile}, mode 0600\n` +
          'stored; next time run punchr client without --save-api-key (punchr login - keeps the key off the command line)\n',
      ),
      run.stdout,
    )
    assert.equal(await readFile(keyFile, 'utf8'), `${key}\n`)
    assert.equal(await mode(keyFile), '600')
    assert.equal(await storedFor('saver'), 1)

    const clash = await punchr(['client', '--save-api-key', 'pk_a', '--api-key', 'pk_b'], env)
    assert.equal(clash.code, 2)
    assert.match(clash.stderr, /two different keys/)
  })

  it('punchr client --save-api-key - reads the key from stdin, off the command line', async () => {
    const { env, keyFile } = freshHome()
    const key = await t.addKey('stdin-saver')
    const run = await measureOnce(env, ['--save-api-key', '-'], `  ${key}\n`)
    assert.equal(run.code, 0, run.stderr)
    assert.ok(run.stdout.startsWith(`API key stored in ${keyFile}, mode 0600\n`), run.stdout)
    assert.doesNotMatch(run.stdout, /next time run/, 'nothing to warn about')
    assert.equal(await readFile(keyFile, 'utf8'), `${key}\n`)
    assert.equal(await mode(keyFile), '600')
    assert.equal(await storedFor('stdin-saver'), 1)

    const empty = await punchr(['client', '--save-api-key', '-'], freshHome().env, '')
    assert.equal(empty.code, 2)
    assert.match(empty.stderr, /the API key is empty/)
  })

  it('a key the server refuses stops the client with exit code 2, which a service does not restart', async () => {
    const { env } = freshHome()
    const run = await measureOnce({ ...env, PUNCHR_CLIENT_API_KEY: 'pk_nobody_knows_me' })
    assert.equal(run.code, 2, run.stderr)
    assert.match(run.stderr, /^punchr client: Register refused \(Unauthenticated\): .*unknown API key/m)
    assert.doesNotMatch(run.stderr, /pk_nobody/, 'the key is not echoed')
  })
})
