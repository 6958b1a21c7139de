// The DCUtR wire format (libp2p/specs relay/DCUtR.md, "RPC messages"): each message is a
// protobuf `HolePunch` prefixed with its length as an unsigned varint.
//
//   message HolePunch {
//     enum Type { CONNECT = 100; SYNC = 300; }
//     required Type type = 1;        // `optional` in the spec's proto, required in go-libp2p's
//     repeated bytes ObsAddrs = 2;
//   }
//
// Two fields do not justify generated code; @bufbuild/protobuf's wire reader/writer do the
// encoding.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MAX_MESSAGE_SIZE } from './constants.js'
import { errorMessage, MalformedMessageError, MessageTooLargeError } from './errors.js'

export enum HolePunchType {
  CONNECT = 100,
  SYNC = 300,
}

export interface HolePunch {
  type: HolePunchType
  /** Binary multiaddrs; decoding them is the caller's business (the wire may carry garbage). */
  obsAddrs: Uint8Array[]
}

const FIELD_TYPE = 1
const FIELD_OBS_ADDRS = 2

/** The protobuf bytes of a message, without the length prefix. */
export function encodeHolePunch(message: HolePunch): Uint8Array {
  const writer = new BinaryWriter()
  writer.tag(FIELD_TYPE, WireType.Varint).int32(message.type)
  for (const addr of message.obsAddrs) writer.tag(FIELD_OBS_ADDRS, WireType.LengthDelimited).bytes(addr)
  return writer.finish()
}

/** Decodes protobuf bytes (no length prefix); throws MalformedMessageError on anything off. */
export function decodeHolePunch(bytes: Uint8Array): HolePunch {
  const reader = new BinaryReader(bytes)
  let type: number | undefined
  const obsAddrs: Uint8Array[] = []
  try {
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag()
      if (fieldNo === FIELD_TYPE && wireType === WireType.Varint) {
        // proto2: a repeated scalar field keeps the last value.
        type = reader.int32()
      } else if (fieldNo === FIELD_OBS_ADDRS && wireType === WireType.LengthDelimited) {
        // Copy: the reader hands out views into the frame buffer, which is reused.
        obsAddrs.push(reader.bytes().slice())
      } else if (fieldNo === FIELD_TYPE || fieldNo === FIELD_OBS_ADDRS) {
        throw new Error(`field ${fieldNo} has wire type ${wireType}`)
      } else {
        reader.skip(wireType, fieldNo)
      }
    }
  } catch (err) {
    throw new MalformedMessageError(`malformed HolePunch message: ${errorMessage(err)}`, { cause: err })
  }
  if (type === undefined) throw new MalformedMessageError('malformed HolePunch message: no type')
  // proto2 keeps an unknown enum value as an unknown field, which leaves the required type unset.
  if (type !== HolePunchType.CONNECT && type !== HolePunchType.SYNC) {
    throw new MalformedMessageError(`malformed HolePunch message: unknown type ${type}`)
  }
  return { type, obsAddrs }
}

/** A message with its varint length prefix, ready for the stream. */
export function encodeFrame(message: HolePunch, maxSize = MAX_MESSAGE_SIZE): Uint8Array {
  const body = encodeHolePunch(message)
  if (body.byteLength > maxSize) {
    throw new MessageTooLargeError(`HolePunch message of ${body.byteLength} bytes exceeds ${maxSize}`)
  }
  return new BinaryWriter().bytes(body).finish()
}

/** A decoded frame and how many bytes of the buffer it took. */
export interface Frame {
  message: HolePunch
  consumed: number
}

/**
 * Decodes the first frame of `buf`, or returns undefined when more bytes are needed. Throws
 * MessageTooLargeError as soon as the prefix announces more than `maxSize` bytes (before they
 * arrive), and MalformedMessageError for a bad prefix or body.
 */
export function decodeFrame(buf: Uint8Array | Uint8ArrayList, maxSize = MAX_MESSAGE_SIZE): Frame | undefined {
  const prefix = readLengthPrefix(buf, maxSize)
  if (prefix === undefined) return undefined
  const end = prefix.headerBytes + prefix.length
  if (buf.byteLength < end) return undefined
  const body = buf.subarray(prefix.headerBytes, end)
  return { message: decodeHolePunch(body), consumed: end }
}

// A uint32 varint needs at most 5 bytes.
const MAX_VARINT_BYTES = 5

function readLengthPrefix(
  buf: Uint8Array | Uint8ArrayList,
  maxSize: number,
): { length: number; headerBytes: number } | undefined {
  let length = 0
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (i >= buf.byteLength) return undefined
    const byte = byteAt(buf, i)
    length += (byte & 0x7f) * 2 ** (7 * i)
    if (length > maxSize) {
      throw new MessageTooLargeError(`HolePunch message length ${length}+ exceeds ${maxSize}`)
    }
    if ((byte & 0x80) === 0) return { length, headerBytes: i + 1 }
  }
  throw new MalformedMessageError('malformed HolePunch length prefix: varint longer than 5 bytes')
}

function byteAt(buf: Uint8Array | Uint8ArrayList, i: number): number {
  return buf instanceof Uint8Array ? buf[i]! : buf.get(i)
}
