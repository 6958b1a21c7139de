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
