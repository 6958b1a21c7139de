// The client's unary gRPC call (src/client/grpc-call.ts) against a real HTTP/2 server on
// 127.0.0.1 that answers as a gRPC server would, and as a broken or hostile one might: the
// status in the trailers or alone in the headers, a percent-encoded message, a stream reset,
// a plain HTTP error, an answer too large, no answer before the deadline, a GOAWAY; and the
// API client's word to its owner after each call that succeeded.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { ApiClient } from '../../src/client/api-client.js'
import { classifyApiError } from '../../src/client/api-errors.js'
import { ApiError, Code, GrpcChannel, MAX_RESPONSE_BYTES } from '../../src/client/grpc-call.js'

const execFileAsync = promisify(execFile)

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void

/** The request message's bytes with gRPC's 5-byte prefix. */
function framed(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out.writeUInt32BE(message.length, 1)
  out.set(message, 5)
  return out
}

/** A successful unary answer: headers, one message, status 0 in the trailers. */
function ok(message: Uint8Array): Handler {
  return (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(framed(message))
  }
}

describe('unary gRPC over HTTP/2', () => {
  let server: http2.Http2Server
  let baseUrl: string
  const handlers = new Map<string, Handler>()
  const seen: { headers: http2.IncomingHttpHeaders; body: Buffer; session: http2.ServerHttp2Session }[] = []

  before(async () => {
    server = http2.createServer()
    server.on('stream', (stream, headers) => {
      // Resets and cancels by either side surface here too; the client's side is under test.
      stream.on('error', () => undefined)
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const body = Buffer.concat(chunks)
        seen.push({ headers, body, session: stream.session as http2.ServerHttp2Session })
        const handler = handlers.get(String(headers[':path']))
        if (handler === undefined) stream.respond({ ':status': 404 }, { endStream: true })
        else handler(stream, headers, body)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const { session } of seen) session.destroy()
    await closed
  })

  const call = (channel: GrpcChannel, path: string, timeoutMs = 2_000, signal?: AbortSignal) =>
    channel.call(path, new Uint8Array([8, 1]), { timeoutMs, signal })

  it('sends a framed POST with the deadline and returns the answer message', async () => {
    handlers.set('/S/Echo', (stream, _headers, body) => ok(body.subarray(5))(stream, _headers, body))
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      const answer = await call(channel, '/S/Echo', 5_000)
      assert.deepEqual([...answer], [8, 1])
      const request = seen.at(-1)!
      assert.equal(request.headers[':method'], 'POST')
      assert.equal(request.headers['content-type'], 'application/grpc+proto')
      assert.equal(request.headers.te, 'trailers')
      assert.equal(request.headers['grpc-timeout'], '5000m')
      assert.equal(request.headers[':authority'], new URL(baseUrl).host)
      assert.deepEqual([...request.body], [0, 0, 0, 0, 2, 8, 1])
      // A second call shares the session.
      await call(channel, '/S/Echo')
      assert.equal(seen.at(-1)!.session, request.session)
    } finally {
      channel.close()
    }
  })

  it("gives the server's status and percent-decoded message, from the trailers or a trailers-only answer", async () => {
    handlers.set('/S/NotFound', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.once('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': encodeURIComponent('no remote: ä 100%') }),
      )
      stream.end()
    })
    handlers.set('/S/Denied', (stream) =>
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'nope' },
        { endStream: true },
      ),
    )
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      await assert.rejects(call(channel, '/S/NotFound'), (err: unknown) => {
        assert.ok(err instanceof ApiError)
        assert.equal(err.code, Code.NotFound)
        assert.equal(err.rawMessage, 'no remote: ä 100%')
        assert.equal(err.message, '[NotFound] no remote: ä 100%')
        return true
      })
      await assert.rejects(call(channel, '/S/Denied'), { code: Code.PermissionDenied, rawMessage: 'nope' })
      assert.equal(classifyApiError(await call(channel, '/S/Denied').catch((e) => e)).kind, 'permanent')
    } finally {
      channel.close()
    }
  })

  it("tells the API client's owner of each call that succeeded, not of one that failed", async () => {
    // A GetAddrInfoResponse with remote_id (field 1, bytes) = [1].
    handlers.set('/PunchrService/GetAddrInfo', ok(new Uint8Array([0x0a, 1, 1])))
    handlers.set('/PunchrService/Register', (stream) =>
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'key' },
        { endStream: true },
      ),
    )
    let successes = 0
    const api = new ApiClient(
      { server: new URL(baseUrl).host, tls: false, tlsSkipVerify: false },
      { onSuccess: () => successes++ },
    )
    try {
      const key = { apiKey: 'key' }
      assert.deepEqual([...(await api.getAddrInfo({ ...key, hostId: new Uint8Array([2]) })).remoteId], [1])
      assert.equal(successes, 1)
      const register = { ...key, clientId: new Uint8Array([2]), agentVersion: 'test' }
      await assert.rejects(api.register(register), { code: Code.Unauthenticated })
      assert.equal(successes, 1)
    } finally {
      api.close()
    }
  })

  it('maps what is not a gRPC answer: an HTTP error, a stream reset, a missing status, a status out of range', async () => {
    handlers.set('/S/Busy', (stream) => stream.respond({ ':status': 503 }, { endStream: true }))
    handlers.set('/S/Refuse', (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM))
    handlers.set('/S/Broken', (stream) => stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR))
    handlers.set('/S/NoStatus', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
      stream.end(framed(new Uint8Array([1])))
    })
    handlers.set('/S/Odd', (stream) =>
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '99' },
        { endStream: true },
      ),
    )
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      await assert.rejects(call(channel, '/S/Busy'), { code: Code.Unavailable })
      await assert.rejects(call(channel, '/S/Missing'), { code: Code.Unimplemented })
      await assert.rejects(call(channel, '/S/Refuse'), { code: Code.Unavailable })
      await assert.rejects(call(channel, '/S/Broken'), { code: Code.Internal })
      await assert.rejects(call(channel, '/S/NoStatus'), { code: Code.Internal })
      await assert.rejects(call(channel, '/S/Odd'), { code: Code.Unknown })
    } finally {
      channel.close()
    }
  })

  it('refuses an answer larger than it accepts, and a frame that lies about its length', async () => {
    handlers.set('/S/Huge', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
      const chunk = Buffer.alloc(256 * 1024)
      let sent = 0
      const more = () => {
        while (sent <= MAX_RESPONSE_BYTES && !stream.destroyed) {
          sent += chunk.length
          if (!stream.write(chunk)) return void stream.once('drain', more)
        }
        if (!stream.destroyed) stream.end()
      }
      more()
    })
    handlers.set('/S/Short', (stream) => {
      const lying = framed(new Uint8Array([1, 2, 3]))
      lying.writeUInt32BE(10, 1)
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(lying)
    })
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      await assert.rejects(call(channel, '/S/Huge', 10_000), { code: Code.ResourceExhausted })
      await assert.rejects(call(channel, '/S/Short'), { code: Code.Internal })
    } finally {
      channel.close()
    }
  })

  it('fails a call past its deadline, starts a new session after it, and cancels on the signal and on close', async () => {
    handlers.set('/S/Silent', () => undefined)
    handlers.set('/S/Echo', (stream, headers, body) => ok(body.subarray(5))(stream, headers, body))
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      await call(channel, '/S/Echo')
      const before = seen.at(-1)!.session
      await assert.rejects(call(channel, '/S/Silent', 200), { code: Code.DeadlineExceeded })
      await call(channel, '/S/Echo')
      assert.notEqual(seen.at(-1)!.session, before, 'a session that missed a deadline is not used again')
      const abort = new AbortController()
      const pending = call(channel, '/S/Silent', 5_000, abort.signal)
      setTimeout(() => abort.abort(), 50)
      await assert.rejects(pending, { code: Code.Canceled })
      await assert.rejects(call(channel, '/S/Echo', 1_000, abort.signal), { code: Code.Canceled })
      const inFlight = call(channel, '/S/Silent', 5_000)
      setTimeout(() => channel.close(), 50)
      await assert.rejects(inFlight, { code: Code.Canceled, rawMessage: 'the API client was closed' })
    } finally {
      channel.close()
    }
    await assert.rejects(call(channel, '/S/Echo'), { code: Code.Canceled }, 'a closed channel calls nothing')
  })

  it('moves to a new session after a GOAWAY', async () => {
    handlers.set('/S/Echo', (stream, headers, body) => ok(body.subarray(5))(stream, headers, body))
    const channel = new GrpcChannel(baseUrl, { rejectUnauthorized: true })
    try {
      await call(channel, '/S/Echo')
      const first = seen.at(-1)!.session
      first.goaway()
      await new Promise((resolve) => setTimeout(resolve, 100))
      await call(channel, '/S/Echo')
      assert.notEqual(seen.at(-1)!.session, first)
    } finally {
      channel.close()
    }
  })

  it('reports a server that is not there as UNAVAILABLE with its errno, a transient failure', async () => {
    const closed = http2.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const channel = new GrpcChannel(`http://127.0.0.1:${port}`, { rejectUnauthorized: true })
    try {
      const err = await call(channel, '/S/Echo').catch((e: unknown) => e)
      assert.ok(err instanceof ApiError)
      assert.equal(err.code, Code.Unavailable)
      assert.match(err.rawMessage, /ECONNREFUSED/)
      assert.equal(classifyApiError(err).kind, 'transient')
    } finally {
      channel.close()
    }
  })

  it('does not keep the process alive with an idle session', async () => {
    // A child process makes one call and then has nothing left to do: it must exit at once,
    // not when the session would time out.
    handlers.set('/S/Echo', (stream, headers, body) => ok(body.subarray(5))(stream, headers, body))
    const module = fileURLToPath(new URL('../../src/client/grpc-call.js', import.meta.url))
    const script = `
      const { GrpcChannel } = await import(${JSON.stringify(module)})
      const channel = new GrpcChannel(${JSON.stringify(baseUrl)}, { rejectUnauthorized: true })
      await channel.call('/S/Echo', new Uint8Array(), { timeoutMs: 5000 })
      process.stdout.write('called\\n')
    `
    const started = Date.now()
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.deepEqual([stdout, stderr], ['called\n', ''])
    assert.ok(Date.now() - started < 10_000, 'exited without waiting for the session')
  })
})
