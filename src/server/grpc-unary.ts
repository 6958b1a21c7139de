import http2 from 'node:http2'
import {
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { grpcFrame } from '../lib/grpc-frame.js'
import { notProtobuf } from './connect-adapter.js'
import { messageTooLarge } from './interceptors.js'

/**
 * The service's unary gRPC calls over HTTP/2, served straight from the HTTP/2 stream: read the
 * one length-prefixed message, parse it, call the handler, write the answer and the status
 * trailers. Every other request on the port (Connect, gRPC-Web, compressed gRPC, a bad
 * timeout header, an unknown path) goes to `fallback`, Connect's adapter.
 *
 * Why not Connect for these too: on Register, the call that does least else, Connect and its
 * Node adapter took about 30 % of the server thread's busy time (async iterator pipelines, a
 * Proxy'd compat request, three AbortControllers aborted per call, each building a
 * DOMException with a stack), besides the compat request and response objects Node builds
 * for it. Served here, Register answers about 1.55 times as many calls a second and
 * TrackHolePunch stores 1.25 times as many reports (docs/benchmarks.md).
 *
 * What a caller sees is what Connect answers, on the wire: status 200, content type
 * `application/grpc+proto`, the message, then `grpc-status` and `grpc-message` (URI-encoded)
 * as trailers. Where a request breaks the gRPC framing (no message, two messages, a length
 * that does not match, the compressed flag without a compression) it is answered
 * INVALID_ARGUMENT, the client's fault, where Connect answered UNIMPLEMENTED or INTERNAL.
 */

/** A unary method's implementation: its request in, its response out; errors are thrown. */
// biome-ignore lint/suspicious/noExplicitAny: each method has its own message types.
export type UnaryImplementation = (request: any) => Promise<MessageShape<DescMessage>>

export interface GrpcUnaryOptions {
  service: DescService
  /** By the method's local name (`register`, as in Connect's service implementations). */
  implementations: Record<string, UnaryImplementation>
  /** Wraps each call: metrics, and errors mapped to ConnectErrors (interceptors.ts, recordCall). */
  call: <T>(method: string, run: () => Promise<T>) => Promise<T>
  /** A message longer is answered INVALID_ARGUMENT, as by interceptors.ts's messageSizeLimit. */
  maxMessageBytes: number
  /** A message longer is answered RESOURCE_EXHAUSTED without reading it (a memory bound). */
  readMaxBytes: number
  /** Every request this path does not serve. */
  fallback: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void
}

interface Route {
  name: string
  input: DescMessage
  output: DescMessage
  implementation: UnaryImplementation
}

/** A listener for the HTTP/2 server's 'stream' event (the server has no 'request' listener). */
export function grpcUnaryStreams(
  options: GrpcUnaryOptions,
): (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  raw: string[],
) => void {
  const routes = new Map<string, Route>()
  for (const method of options.service.methods) {
    const implementation = options.implementations[method.localName]
    if (method.methodKind !== 'unary' || implementation === undefined) continue
    routes.set(`/${options.service.typeName}/${method.name}`, {
      name: method.name,
      input: method.input,
      output: method.output,
      implementation,
    })
  }
  return (stream, headers, _flags, rawHeaders) => {
    const route = routes.get(headers[':path'] ?? '')
    if (route === undefined || !servedHere(headers)) {
      // What Node's compatibility layer does for each stream when a server has a 'request' listener.
      options.fallback(
        new http2.Http2ServerRequest(stream, headers, {}, rawHeaders),
        new http2.Http2ServerResponse(stream),
      )
      return
    }
    // A stream reset by the client emits 'error'; the call's outcome is then unanswerable anyway.
    stream.on('error', () => undefined)
    void serve(stream, route, options).catch(() => stream.destroy())
  }
}

/** Plain unary gRPC with protobuf, uncompressed, and a timeout Connect would accept (or none). */
function servedHere(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':method'] !== 'POST') return false
  const type = headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase()
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false
  const encoding = headers['grpc-encoding']
  if (encoding !== undefined && encoding !== 'identity') return false
  const timeout = headers['grpc-timeout']
  return timeout === undefined || (typeof timeout === 'string' && /^\d{1,8}[HMSmun]$/.test(timeout))
}

async function serve(
  stream: http2.ServerHttp2Stream,
  route: Route,
  options: GrpcUnaryOptions,
): Promise<void> {
  let answer: Uint8Array | undefined
  let error: ConnectError | undefined
  try {
    const body = await readEnvelope(stream, options.readMaxBytes)
    answer = await options.call(route.name, async () => {
      if (body.length > options.maxMessageBytes) throw messageTooLarge(body.length, options.maxMessageBytes)
      const request = parse(route.input, body)
      return toBinary(route.output, await route.implementation(request))
    })
  } catch (err) {
    error = err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal)
  }
  if (stream.destroyed || stream.closed) return
  stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true })
  stream.once('wantTrailers', () =>
    stream.sendTrailers(
      error === undefined
        ? { 'grpc-status': '0' }
        : { 'grpc-status': String(error.code), 'grpc-message': encodeURIComponent(error.rawMessage) },
    ),
  )
  stream.end(answer === undefined ? undefined : grpcFrame(answer))
}

/** The request's one message: its bytes inside the 5-byte gRPC prefix. */
function readEnvelope(stream: http2.ServerHttp2Stream, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let declared: number | undefined
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (declared === undefined && size >= 5) declared = prefixLength(chunks)
      // The announced length, and what is sent: more messages may follow the first one.
      const over =
        declared !== undefined && declared > maxBytes
          ? `message is ${declared} bytes`
          : size > 5 + maxBytes
            ? `body is over ${5 + maxBytes} bytes`
            : undefined
      if (over === undefined) return
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onClose)
      stream.resume()
      reject(
        new ConnectError(`request: ${over}, more than the hard limit of ${maxBytes}`, Code.ResourceExhausted),
      )
    }
    // The error is built only when the stream closes before its end: built on every close, its
    // stack trace took 0.5 % of the server thread's time under load.
    const onClose = () => reject(new ConnectError('request: stream closed before its end', Code.Canceled))
    const onEnd = () => {
      stream.off('close', onClose)
      try {
        resolve(unwrap(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
      } catch (err) {
        reject(err)
      }
    }
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('close', onClose)
  })
}

/** The message length a body's first five bytes announce. */
function prefixLength(chunks: Buffer[]): number {
  const head = chunks[0]!.length >= 5 ? chunks[0]! : Buffer.concat(chunks).subarray(0, 5)
  return head.readUInt32BE(1)
}

function unwrap(body: Buffer): Uint8Array {
  if (body.length === 0) throw framingError('no request message')
  if (body.length < 5) throw framingError(`an incomplete message prefix of ${body.length} bytes`)
  if ((body[0]! & 1) !== 0) throw framingError('a compressed message without a grpc-encoding')
  const length = body.readUInt32BE(1)
  if (body.length < 5 + length)
    throw framingError(`a message of ${length} bytes announced, ${body.length - 5} sent`)
  if (body.length > 5 + length) throw framingError('more than one request message for a unary method')
  return body.subarray(5)
}

function framingError(what: string): ConnectError {
  return new ConnectError(`request: gRPC framing: ${what}`, Code.InvalidArgument)
}

/** The request message; bytes that are not one are the client's fault (Connect said INTERNAL). */
function parse(schema: DescMessage, bytes: Uint8Array): MessageShape<DescMessage> {
  try {
    return fromBinary(schema, bytes)
  } catch (err) {
    throw notProtobuf(err instanceof Error ? err.message : String(err))
  }
}
