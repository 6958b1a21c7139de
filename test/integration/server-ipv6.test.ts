import assert from 'node:assert/strict'
import http2 from 'node:http2'
import type net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ApiClient } from '../../src/client/api-client.js'
import { addApiKey } from '../../src/db/authorizations.js'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { newPeer } from '../support/fixtures.js'
import { hasIpv6Loopback } from '../support/ipv6.js'
import { loopbackServerConfig, testGeo } from '../support/server.js'

/**
 * Clients on IPv6 only: `--host6` (gRPC and HTTP on an IPv6 address beside --host), the
 * authority Node's HTTP/2 client sends to an IPv6 server, and a server that survives an
 * authority no URL can hold.
 */

const ipv6Loopback = await hasIpv6Loopback()

describe('server on IPv6', {
  skip: ipv6Loopback ? false : 'this machine has no IPv6 loopback (::1)',
  timeout: 60_000,
}, () => {
  let db: Database
  let server: PunchrServer
  let apiKey: string

  before(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await migrate(db)
    apiKey = (await addApiKey(db, 'ipv6')).key
    server = await createServer(loopbackServerConfig({ host6: '::1' }), { db, geo: await testGeo() })
    await server.start()
  })
  after(async () => {
    await server.destroy()
    await db.close()
  })

  it('--host6 serves gRPC and HTTP on the IPv6 address too, on the same ports', async () => {
    for (const host of ['127.0.0.1', '[::1]']) {
      const client = new ApiClient({ server: `${host}:${server.grpcPort}`, tls: false, tlsSkipVerify: false })
      try {
        const peer = await newPeer()
        await client.register({ clientId: peer.bytes, agentVersion: 'ipv6-test', protocols: [], apiKey })
      } finally {
        client.close()
      }
      const health = await fetch(`http://${host}:${server.httpPort}/healthz`)
      assert.equal(health.status, 200, `/healthz over ${host}`)
    }
  })

  it('--host6 :: beside --host 0.0.0.0 takes IPv6 alone, so both listen', async () => {
    const both = await createServer(loopbackServerConfig({ host: '0.0.0.0', host6: '::' }), {
      db,
      geo: await testGeo(),
    })
    await both.start()
    try {
      for (const host of ['127.0.0.1', '[::1]']) {
        const health = await fetch(`http://${host}:${both.httpPort}/healthz`)
        assert.equal(health.status, 200, `/healthz over ${host}`)
      }
    } finally {
      await both.destroy()
    }
  })

  it('a request whose authority no URL can hold is answered, and the server keeps serving', async () => {
    // Node's HTTP/2 client sends an IPv6 authority without brackets; anyone may send worse
    // (what HTTP/2 itself forbids, such as a space, nghttp2 refuses before we see it).
    for (const authority of ['2600:11::1:10000', '[::1', 'a:b:c']) {
      const status = await grpcStatusWithAuthority(server.grpcPort, authority)
      assert.equal(status, '16', `authority ${JSON.stringify(authority)}: grpc-status ${status}`)
    }
    const health = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)
    assert.equal(health.status, 200)
  })

  it('our client sends an IPv6 server its authority in brackets', async () => {
    const seen: (string | undefined)[] = []
    const recorder = http2.createServer((req, res) => {
      seen.push(req.authority)
      res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '14' }).end()
    })
    await new Promise<void>((resolve) => recorder.listen(0, '::1', resolve))
    const port = (recorder.address() as net.AddressInfo).port
    const client = new ApiClient({ server: `[::1]:${port}`, tls: false, tlsSkipVerify: false })
    try {
      const peer = await newPeer()
      await assert.rejects(
        client.register({ clientId: peer.bytes, agentVersion: 'ipv6-test', protocols: [], apiKey }),
      )
    } finally {
      client.close()
      await new Promise((resolve) => recorder.close(resolve))
    }
    assert.deepEqual(seen, [`[::1]:${port}`])
  })
})

/** A gRPC Register without an API key sent with `:authority` set; resolves to its grpc-status. */
function grpcStatusWithAuthority(port: number, authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({
      ':method': 'POST',
      ':path': '/PunchrService/Register',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    })
    let status: string | undefined
    req.on('response', (headers) => {
      status ??= headers['grpc-status'] as string | undefined
    })
    req.on('trailers', (trailers) => {
      status = (trailers['grpc-status'] as string | undefined) ?? status
    })
    req.on('end', () => {
      session.close()
      resolve(String(status))
    })
    req.on('error', reject)
    req.resume()
    // An empty Register: no API key, so UNAUTHENTICATED (16) once it gets that far.
    req.end(new Uint8Array([0, 0, 0, 0, 0]))
  })
}
