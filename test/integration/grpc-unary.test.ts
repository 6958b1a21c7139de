import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { Database } from '../../src/db/database.js'
import { RegisterRequestSchema, RegisterResponseSchema } from '../../src/gen/punchr_pb.js'
import { grpcFrame } from '../../src/lib/grpc-frame.js'
import { openTestDatabase } from '../support/databases.js'
import { newPeer, type TestPeer } from '../support/fixtures.js'
import { grpcStatusOf, rawHttp2Request } from '../support/raw-requests.js'
import { startTestServer, type TestServer } from '../support/server.js'

/**
 * The server's own gRPC path (src/server/grpc-unary.ts) on the HTTP/2 port: what it answers
 * itself, in Connect's wire shape, and what it leaves to Connect. The RPCs' behaviour over it
 * is covered by the wire, interop and fuzz tests; this is about the framing.
 */

/** The message framed with gRPC's compressed flag set. */
function flaggedCompressed(message: Uint8Array): Buffer {
  const framed = grpcFrame(message)
  framed[0] = 1
  return framed
}

describe('gRPC on the HTTP/2 port without Connect', () => {
  let db: Database
  let t: TestServer
  let host: TestPeer
  let register: Uint8Array
  const path = '/PunchrService/Register'

  before(async () => {
    db = await openTestDatabase('pglite')
    t = await startTestServer(db)
    host = await newPeer()
    register = toBinary(
      RegisterRequestSchema,
      create(RegisterRequestSchema, {
        clientId: host.bytes,
        agentVersion: 'punchr-ts/test',
        protocols: ['/libp2p/dcutr'],
        apiKey: await t.addKey(),
      }),
    )
  })
  after(async () => {
    await t.stop()
    await db.close()
  })

  it("answers in Connect's wire shape: 200, application/grpc+proto, the message, grpc-status 0 in the trailers", async () => {
    const answer = await rawHttp2Request(t.server.grpcPort, path, grpcFrame(register))
    assert.equal(answer.status, 200)
    assert.equal(answer.headers['content-type'], 'application/grpc+proto')
    assert.equal(answer.trailers['grpc-status'], '0')
    assert.equal(answer.body[0], 0, 'uncompressed')
    assert.equal(answer.body.readUInt32BE(1), answer.body.length - 5)
    const response = fromBinary(RegisterResponseSchema, answer.body.subarray(5))
    assert.ok(response.dbPeerId > 0n)
  })

  it('counts its calls in the server metrics, by method and code', async () => {
    const count = async () =>
      (await t.server.metrics.rpcs.get()).values.find(
        (v) => v.labels.method === 'Register' && v.labels.code === 'OK',
      )?.value ?? 0
    const was = await count()
    await rawHttp2Request(t.server.grpcPort, path, grpcFrame(register))
    assert.equal(await count(), was + 1)
  })

  it('answers broken framing INVALID_ARGUMENT (the client is at fault), naming what is wrong', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['no message', new Uint8Array(0), /no request message/],
      ['half a prefix', new Uint8Array([0, 0, 0]), /incomplete message prefix of 3 bytes/],
      [
        'compressed flag, no encoding',
        flaggedCompressed(register),
        /compressed message without a grpc-encoding/,
      ],
      ['a short message', grpcFrame(register).subarray(0, 20), /announced, 15 sent/],
      [
        'two messages',
        Buffer.concat([grpcFrame(register), grpcFrame(register)]),
        /more than one request message/,
      ],
    ]
    for (const [name, body, reason] of cases) {
      const answer = await rawHttp2Request(t.server.grpcPort, path, body)
      const { code, message } = grpcStatusOf(answer)
      assert.equal(code, '3', `${name}: grpc-status ${code} ${message}`)
      assert.match(message, reason, name)
    }
  })

  it('answers a message announced over the hard read limit RESOURCE_EXHAUSTED without waiting for it', {
    timeout: 20_000,
  }, async () => {
    const prefix = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff])
    // The body stays open: the answer must come from the prefix alone.
    const answer = await rawHttp2Request(t.server.grpcPort, path, prefix, {}, false)
    const { code, message } = grpcStatusOf(answer)
    assert.equal(code, '8', message)
    assert.match(message, /2147483647 bytes, more than the hard limit/)
  })

  it('answers a body sent past the hard read limit RESOURCE_EXHAUSTED, whatever its first message announced', {
    timeout: 20_000,
  }, async () => {
    const flood = Buffer.concat([grpcFrame(register), Buffer.alloc(9 * 1024 * 1024)])
    const answer = await rawHttp2Request(t.server.grpcPort, path, flood, {}, false)
    const { code, message } = grpcStatusOf(answer)
    assert.equal(code, '8', message)
    assert.match(message, /body is over \d+ bytes, more than the hard limit/)
  })

  it('leaves compressed gRPC to Connect, which serves it', async () => {
    const answer = await rawHttp2Request(t.server.grpcPort, path, flaggedCompressed(gzipSync(register)), {
      'grpc-encoding': 'gzip',
    })
    assert.equal(grpcStatusOf(answer).code, '0', grpcStatusOf(answer).message)
  })

  it('leaves a malformed grpc-timeout to Connect, which refuses it', async () => {
    const answer = await rawHttp2Request(t.server.grpcPort, path, grpcFrame(register), {
      'grpc-timeout': 'soon',
    })
    const { code, message } = grpcStatusOf(answer)
    assert.equal(code, '3')
    assert.match(message, /invalid grpc timeout/)
  })

  it('leaves the Connect protocol and unknown paths to Connect', async () => {
    const connect = await rawHttp2Request(t.server.grpcPort, path, register, {
      'content-type': 'application/proto',
      'connect-protocol-version': '1',
    })
    assert.equal(connect.status, 200)
    assert.ok(fromBinary(RegisterResponseSchema, connect.body).dbPeerId > 0n)
    const unknown = await rawHttp2Request(t.server.grpcPort, '/PunchrService/Nope', grpcFrame(register))
    assert.equal(unknown.status, 404)
  })
})
