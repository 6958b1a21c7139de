import http2 from 'node:http2'
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'

/**
 * Helpers to build request bytes that protobuf-es itself refuses to encode (a proto2
 * message with a required field missing), as a buggy or hostile client could send them.
 */

/** Copies an encoded message without any occurrence of top-level field `fieldNo`. */
export function dropField(bytes: Uint8Array, fieldNo: number): Uint8Array {
  const reader = new BinaryReader(bytes)
  const writer = new BinaryWriter()
  while (reader.pos < reader.len) {
    const start = reader.pos
    const [no, wireType] = reader.tag()
    reader.skip(wireType, no)
    if (no !== fieldNo) writer.raw(bytes.subarray(start, reader.pos))
  }
  return writer.finish()
}

/** Appends a length-delimited field (bytes, string or sub-message). */
export function appendBytesField(bytes: Uint8Array, fieldNo: number, value: Uint8Array): Uint8Array {
  const writer = new BinaryWriter()
  writer.raw(bytes)
  writer.tag(fieldNo, WireType.LengthDelimited).bytes(value)
  return writer.finish()
}

export interface RawResponse {
  httpStatus: number
  /** Connect error code name, e.g. `invalid_argument`, or undefined on success. */
  code: string | undefined
  message: string | undefined
}

/** POSTs raw protobuf bytes to an RPC with the Connect protocol (HTTP/1.1, application/proto). */
export async function postConnect(httpUrl: string, method: string, body: Uint8Array): Promise<RawResponse> {
  const res = await fetch(`${httpUrl}/PunchrService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1' },
    body,
  })
  if (res.ok) return { httpStatus: res.status, code: undefined, message: undefined }
  const json = (await res.json()) as { code?: string; message?: string }
  return { httpStatus: res.status, code: json.code, message: json.message }
}

export interface RawHttp2Answer {
  status: number
  headers: http2.IncomingHttpHeaders
  trailers: http2.IncomingHttpHeaders
  body: Buffer
}

/**
 * One gRPC-looking HTTP/2 request (content type `application/grpc` unless `headers` say
 * otherwise); `end: false` leaves the request body open, as a client still sending.
 */
export function rawHttp2Request(
  port: number,
  path: string,
  body: Uint8Array,
  headers: http2.OutgoingHttpHeaders = {},
  end = true,
): Promise<RawHttp2Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    })
    let answer: RawHttp2Answer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) }
    const chunks: Buffer[] = []
    req.on('response', (h) => {
      answer = { ...answer, status: Number(h[':status']), headers: h }
    })
    req.on('trailers', (t) => {
      answer = { ...answer, trailers: t }
    })
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      session.destroy()
      resolve({ ...answer, body: Buffer.concat(chunks) })
    })
    req.on('error', reject)
    if (end) req.end(body)
    else req.write(body)
  })
}

/** grpc-status and grpc-message, from the trailers or a trailers-only answer. */
export function grpcStatusOf(answer: RawHttp2Answer): { code: string; message: string } {
  const source = answer.trailers['grpc-status'] === undefined ? answer.headers : answer.trailers
  return {
    code: String(source['grpc-status']),
    message: decodeURIComponent(String(source['grpc-message'] ?? '')),
  }
}
