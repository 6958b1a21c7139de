import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { PunchrService } from '../../src/gen/punchr_pb.js'
import { PUNCHR_BIN, punchr } from '../support/cli.js'
import { newPeer } from '../support/fixtures.js'

/** Starts `punchr server` on ephemeral ports; resolves with the ports from its "listening" log line. */
function startServer(
  args: string[],
): Promise<{ child: ChildProcess; grpcPort: number; httpPort: number; logs: () => string }> {
  const child = spawn(
    process.execPath,
    [PUNCHR_BIN, 'server', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', ...args],
    {
      env: { ...process.env, PUNCHR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 30_000)
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const line = stderr.split('\n').find((l) => l.includes('punchr server listening'))
      if (line !== undefined) {
        clearTimeout(timer)
        const { grpc, http } = JSON.parse(line) as { grpc: string; http: string }
        resolve({
          child,
          grpcPort: Number(grpc.split(':').at(-1)),
          httpPort: Number(http.split(':').at(-1)),
          logs: () => stderr,
        })
      }
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)))
  })
}

describe('punchr CLI (embedded database)', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-cli-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('keys add prints the key alone on stdout; list shows it without the key; revoke revokes it', () => {
    const added = punchr(['keys', 'add', '--user', 'alice', '--data-dir', dir])
    assert.equal(added.code, 0, added.stderr)
    assert.match(added.stdout, /^pk_[A-Za-z0-9_-]{43}\n$/)
    const key = added.stdout.trim()
    const listed = punchr(['keys', 'list'], { PUNCHR_KEYS_DATA_DIR: dir })
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /alice\t.*\tactive/)
    assert.ok(!listed.stdout.includes(key), 'the key itself is never listed')
    const revoked = punchr(['keys', 'revoke', key, '--data-dir', dir])
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.match(punchr(['keys', 'list', '--data-dir', dir]).stdout, /alice\t.*\trevoked/)
  })

  it('explains bad usage with exit code 2', () => {
    const noUser = punchr(['keys', 'add', '--data-dir', dir])
    assert.equal(noUser.code, 2)
    assert.match(noUser.stderr, /--user/)
    const badPort = punchr(['server', '--port', 'http'])
    assert.equal(badPort.code, 2)
    assert.match(badPort.stderr, /invalid value "http" for --port: not a whole number/)
    const badEnv = punchr(['server'], { PUNCHR_SERVER_HTTP_PORT: '70000' })
    assert.equal(badEnv.code, 2)
    assert.match(badEnv.stderr, /PUNCHR_SERVER_HTTP_PORT: must be between 0 and 65535/)
    assert.equal(punchr(['frobnicate']).code, 2)
    const replicaOfPglite = punchr([
      'server',
      '--data-dir',
      dir,
      '--read-database-url',
      'postgres://127.0.0.1:1/x',
    ])
    assert.equal(replicaOfPglite.code, 2)
    assert.match(replicaOfPglite.stderr, /--read-database-url needs --database-url/)
    const notPostgres = punchr([
      'server',
      '--database-url',
      'postgres://127.0.0.1:1/x',
      '--read-database-url',
      'x',
    ])
    assert.equal(notPostgres.code, 2)
    assert.match(notPostgres.stderr, /--read-database-url must be a postgres:\/\/ URL/)
  })

  it('migrate applies nothing on a migrated database', () => {
    const res = punchr(['migrate', '--data-dir', dir])
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stdout, 'database is up to date\n')
  })

  it('server serves the API, keeps other processes off its data folder, and stops cleanly on SIGTERM', async () => {
    const key = punchr(['keys', 'add', '--user', 'bob', '--data-dir', dir]).stdout.trim()
    const server = await startServer(['--data-dir', dir])
    try {
      const client = createClient(
        PunchrService,
        createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` }),
      )
      const host = await newPeer()
      const res = await client.register({
        clientId: host.bytes,
        agentVersion: 'punchr/go-client/0.7.0',
        apiKey: key,
      })
      assert.ok(res.dbPeerId > 0n)
      const health = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)
      assert.equal(health.status, 200)
      const locked = punchr(['keys', 'list', '--data-dir', dir])
      assert.equal(locked.code, 2)
      assert.match(locked.stderr, /in use by process \d+/)
    } finally {
      const exited = new Promise<number | null>((resolve) => server.child.once('exit', resolve))
      server.child.kill('SIGTERM')
      assert.equal(await exited, 0, server.logs())
    }
    assert.match(server.logs(), /server stopped/)
    // The lock is released: keys work again.
    assert.equal(punchr(['keys', 'list', '--data-dir', dir]).code, 0)
  })
})
