import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ApiClient } from '../../src/client/api-client.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { ConfigError } from '../../src/lib/errors.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { newPeer } from '../support/fixtures.js'
import { loopbackServerConfig, testGeo } from '../support/server.js'

/** `punchr server --tls-cert --tls-key`: gRPC over TLS (ALPN h2) and HTTPS on the HTTP port. */
describe('server over TLS', () => {
  let dir: string
  let cert: string
  let key: string
  let db: Database
  let server: PunchrServer
  let apiKey: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'punchr-tls-'))
    cert = join(dir, 'cert.pem')
    key = join(dir, 'key.pem')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    )
    db = await openDatabase({ dataDir: 'memory://' })
    await migrate(db)
    apiKey = (await addApiKey(db, 'tls')).key
    server = await createServer(loopbackServerConfig({ tlsCert: cert, tlsKey: key }), {
      db,
      geo: await testGeo(),
    })
    await server.start()
  })
  after(async () => {
    await server.destroy()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves gRPC over TLS to the client that trusts it, and refuses a client that does not', async () => {
    const host = await newPeer()
    const request = { clientId: host.bytes, agentVersion: 'tls-test', protocols: [], apiKey }
    const trusting = new ApiClient({ server: `127.0.0.1:${server.grpcPort}`, tls: true, tlsSkipVerify: true })
    try {
      assert.ok((await trusting.register(request)).dbPeerId > 0n)
    } finally {
      trusting.close()
    }
    // Self-signed: a client that verifies certificates must not talk to it.
    const verifying = new ApiClient({
      server: `127.0.0.1:${server.grpcPort}`,
      tls: true,
      tlsSkipVerify: false,
    })
    try {
      await assert.rejects(verifying.register(request), /certificate/i)
    } finally {
      verifying.close()
    }
    // Cleartext to the TLS port gets nowhere either.
    const cleartext = new ApiClient({
      server: `127.0.0.1:${server.grpcPort}`,
      tls: false,
      tlsSkipVerify: false,
      timeouts: { register: 3_000 },
    })
    try {
      await assert.rejects(cleartext.register(request))
    } finally {
      cleartext.close()
    }
  })

  it('serves /healthz over HTTPS with the same certificate', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.httpPort}/healthz`, { ca: readFileSync(cert) }, (res) => {
          let body = ''
          res.on('data', (d: Buffer) => {
            body += d.toString()
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        .on('error', reject)
    })
    assert.equal(status, 200, body)
  })

  it('refuses half a TLS configuration or an unreadable file before opening anything', async () => {
    await assert.rejects(
      createServer(loopbackServerConfig({ tlsCert: cert }), { db }),
      (err: unknown) =>
        err instanceof ConfigError && /--tls-cert and --tls-key go together/.test(err.message),
    )
    await assert.rejects(
      createServer(loopbackServerConfig({ tlsCert: join(dir, 'missing.pem'), tlsKey: key }), { db }),
      (err: unknown) => err instanceof ConfigError && /--tls-cert .*missing\.pem/.test(err.message),
    )
  })
})
