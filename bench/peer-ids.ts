import { randomBytes } from 'node:crypto'

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** base58btc (Bitcoin alphabet) of `bytes`, as libp2p prints peer IDs. */
export function base58btc(bytes: Uint8Array): string {
  let zeros = 0
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++
  // Base conversion 256 → 58 on a little-endian digit array (fast enough: ~2 µs per peer ID).
  const digits: number[] = []
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i]!
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j]! << 8
      digits[j] = carry % 58
      carry = (carry / 58) | 0
    }
    while (carry > 0) {
      digits.push(carry % 58)
      carry = (carry / 58) | 0
    }
  }
  let out = '1'.repeat(zeros)
  for (let i = digits.length - 1; i >= 0; i--) out += ALPHABET[digits[i]!]
  return out
}

// identity multihash (0x00, length 0x24) of a protobuf PublicKey { Type: Ed25519 (0x08 0x01), Data: 32 bytes (0x12 0x20) }
const ED25519_IDENTITY_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])

export interface BenchPeer {
  /** base58btc string form, `12D3KooW…` */
  id: string
  /** binary multihash, as sent on the wire */
  bytes: Uint8Array
}

/**
 * A valid Ed25519 peer ID without generating a key pair: the identity multihash of 32 random
 * bytes taken as a public key. Nobody can sign for it, which no benchmark needs.
 */
export function randomPeer(): BenchPeer {
  return randomPeers(1)[0]!
}

/** `count` distinct random peers (random bytes drawn in one go: fast for 100 000s). */
export function randomPeers(count: number): BenchPeer[] {
  const seen = new Set<string>()
  const peers: BenchPeer[] = []
  while (peers.length < count) {
    const pool = randomBytes(32 * (count - peers.length))
    for (let offset = 0; offset < pool.length; offset += 32) {
      const bytes = new Uint8Array(38)
      bytes.set(ED25519_IDENTITY_PREFIX, 0)
      bytes.set(pool.subarray(offset, offset + 32), 6)
      const id = base58btc(bytes)
      if (seen.has(id)) continue
      seen.add(id)
      peers.push({ id, bytes })
    }
  }
  return peers
}
