import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { BoundedMemo } from './recent-map.js'

/** Bytes or text from outside are not a libp2p peer ID; the message says why. */
export class InvalidPeerIdError extends Error {
  override readonly name = 'InvalidPeerIdError'
}

type MultihashDigest = Parameters<typeof peerIdFromMultihash>[0]
type PeerId = ReturnType<typeof peerIdFromMultihash>

// Multihash codes libp2p uses for peer IDs: inlined public keys (Ed25519, secp256k1) use the
// identity "hash", larger keys (RSA) the SHA-256 of the key.
const IDENTITY = 0x00
const SHA2_256 = 0x12
const SHA2_256_LENGTH = 32
// go-libp2p inlines keys up to 42 bytes; anything longer would have been hashed.
const MAX_INLINE_KEY_LENGTH = 42
const NOT_A_KEY = 'identity multihash does not hold an Ed25519 or secp256k1 public key'

/**
 * Decodes the binary multihash of a peer ID (as sent on the wire, docs/PROTOCOL.md, "Wire API")
 * into its base58btc string. The multihash header is checked here rather than with
 * multiformats' Digest.decode because that accepts non-minimal varints and SHA-256 digests of
 * any length, and it is only a transitive dependency.
 */
export function parsePeerIdBytes(bytes: Uint8Array): string {
  const multihash = decodeMultihash(bytes)
  let peerId: PeerId
  try {
    peerId = peerIdFromMultihash(multihash)
  } catch (err) {
    // Only identity multihashes can fail here; @libp2p/peer-id's own message ("Invalid URL")
    // would be misleading.
    throw invalid(bytes, NOT_A_KEY, err)
  }
  return checkedString(peerId, () => invalid(bytes, NOT_A_KEY))
}

/**
 * parsePeerIdBytes, remembered for the last 8 192–16 384 distinct peer IDs: the server meets
 * the same ones over and over (a host's own, the remotes and relays of its reports), and
 * base58-encoding one was a measurable share of a report's CPU. Peer IDs are at most 44 bytes
 * (an inlined key, or a SHA-256 digest); longer input, refused anyway, is never kept. The
 * client parses a few per round and does without.
 */
export function parsePeerIdBytesCached(bytes: Uint8Array): string {
  return peerIdStrings.get(bytes)
}

const peerIdStrings = new BoundedMemo(parsePeerIdBytes, 8192, 64)

/** Encodes a peer ID string (base58btc, or a CIDv1 form) into its binary multihash. */
export function peerIdToBytes(str: string): Uint8Array {
  let peerId: PeerId
  try {
    peerId = peerIdFromString(str)
  } catch (err) {
    throw new InvalidPeerIdError(`invalid peer ID "${str}": ${errorMessage(err)}`, { cause: err })
  }
  checkedString(peerId, () => new InvalidPeerIdError(`invalid peer ID "${str}": not a libp2p key`))
  const bytes = peerId.toMultihash().bytes
  // Apply the same strictness as for wire bytes (e.g. SHA-256 digest length).
  parsePeerIdBytes(bytes)
  return bytes
}

// @libp2p/peer-id falls back to a "URL peer ID" for identity multihashes that are not a key;
// those never come from a libp2p host, so they are refused.
function checkedString(peerId: PeerId, reject: () => InvalidPeerIdError): string {
  if (peerId.type === 'url') throw reject()
  return peerId.toString()
}

function decodeMultihash(bytes: Uint8Array): MultihashDigest {
  if (bytes.length === 0) throw invalid(bytes, 'empty')
  const [code, codeLength] = readVarint(bytes, 0)
  const [size, sizeLength] = readVarint(bytes, codeLength)
  const offset = codeLength + sizeLength
  const digest = bytes.slice(offset)
  if (digest.length !== size) {
    throw invalid(bytes, `multihash says ${size} digest bytes but ${digest.length} follow`)
  }
  if (code === SHA2_256 && size !== SHA2_256_LENGTH) {
    throw invalid(bytes, `sha2-256 digest must be ${SHA2_256_LENGTH} bytes, got ${size}`)
  }
  if (code === IDENTITY && size > MAX_INLINE_KEY_LENGTH) {
    throw invalid(bytes, `identity multihash longer than ${MAX_INLINE_KEY_LENGTH} bytes`)
  }
  if (code !== SHA2_256 && code !== IDENTITY) {
    throw invalid(bytes, `unsupported multihash code 0x${code.toString(16)}`)
  }
  return { code, size, digest, bytes: bytes.slice() }
}

// Unsigned LEB128 as used by multiformats: minimal encoding, at most 4 bytes here because
// no code or length relevant to peer IDs comes close to 2^28.
function readVarint(bytes: Uint8Array, offset: number): [value: number, length: number] {
  let value = 0
  for (let i = 0; i < 4; i++) {
    const byte = bytes[offset + i]
    if (byte === undefined) throw invalid(bytes, 'truncated varint')
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw invalid(bytes, 'non-minimal varint')
      return [value, i + 1]
    }
  }
  throw invalid(bytes, 'varint too long')
}

function invalid(bytes: Uint8Array, reason: string, cause?: unknown): InvalidPeerIdError {
  const hex = Buffer.from(bytes.subarray(0, 64)).toString('hex')
  return new InvalidPeerIdError(`invalid peer ID bytes 0x${hex}: ${reason}`, { cause })
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
