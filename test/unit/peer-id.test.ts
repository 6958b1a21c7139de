import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { InvalidPeerIdError, parsePeerIdBytes, peerIdToBytes } from '../../src/lib/peer-id.js'

// An RSA peer ID (sha2-256 multihash) and an Ed25519 one (identity multihash).
const RSA_ID = 'QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC'
const ED25519_ID = '12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const filled = (length: number, value = 7): number[] => new Array<number>(length).fill(value)
const concat = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => [...p]))

describe('peer ID round trip', () => {
  for (const id of [RSA_ID, ED25519_ID]) {
    it(id, () => {
      const encoded = peerIdToBytes(id)
      assert.equal(parsePeerIdBytes(encoded), id)
    })
  }

  for (const type of ['Ed25519', 'secp256k1'] as const) {
    it(`a fresh ${type} key`, async () => {
      const peerId = peerIdFromPrivateKey(await generateKeyPair(type))
      const wire = peerId.toMultihash().bytes
      assert.equal(parsePeerIdBytes(wire), peerId.toString())
      assert.deepEqual(peerIdToBytes(peerId.toString()), wire)
    })
  }

  it('accepts the CIDv1 text form and encodes the same multihash', () => {
    const cidForm = 'bafzaajaiaejcab2epuljhtiqzyi67finoul3vvxji4vudkjhzul7yp5sh6ghbtmz'
    assert.deepEqual(peerIdToBytes(cidForm), peerIdToBytes(ED25519_ID))
  })
})

describe('parsePeerIdBytes rejects malformed bytes', () => {
  const ed25519 = peerIdToBytes(ED25519_ID)
  const rsa = peerIdToBytes(RSA_ID)
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty input', new Uint8Array(), /empty/],
    ['truncated varint', bytes(0x92), /truncated varint/],
    ['code without length', bytes(0x12), /truncated varint/],
    ['sha2-256 digest one byte short', rsa.subarray(0, rsa.length - 1), /32 digest bytes but 31 follow/],
    ['sha2-256 digest with a trailing byte', concat(rsa, [0]), /32 digest bytes but 33 follow/],
    ['sha2-256 digest of 20 bytes', bytes(0x12, 20, ...filled(20)), /must be 32 bytes/],
    ['unsupported hash (sha2-512)', bytes(0x13, 64, ...filled(64)), /unsupported multihash code 0x13/],
    [
      'unsupported hash (blake2b-256)',
      bytes(0xa0, 0xe4, 0x02, 32, ...filled(32)),
      /unsupported multihash code 0xb220/,
    ],
    ['non-minimal varint code', bytes(0x92, 0x00, 32, ...filled(32)), /non-minimal varint/],
    ['identity multihash of garbage', bytes(0x00, 5, 1, 2, 3, 4, 5), /not hold an Ed25519/],
    [
      'identity multihash holding a URL',
      concat([0x00, 18], new TextEncoder().encode('http://example.com')),
      /not hold an Ed25519/,
    ],
    ['identity multihash that is too long', bytes(0x00, 60, ...filled(60)), /longer than 42/],
    [
      'Ed25519 key with a truncated key body',
      concat([0x00, 35], ed25519.subarray(2, 37)),
      /not hold an Ed25519/,
    ],
    ['varint that never ends', bytes(0x80, 0x80, 0x80, 0x80, 0x80), /varint too long/],
  ]
  for (const [name, input, expected] of cases) {
    it(name, () => {
      assert.throws(
        () => parsePeerIdBytes(input),
        (err: unknown) => {
          assert.ok(err instanceof InvalidPeerIdError)
          assert.match(err.message, expected)
          return true
        },
      )
    })
  }
})

describe('peerIdToBytes rejects bad strings', () => {
  const cases = [
    '',
    'hello',
    'Qm',
    `${RSA_ID.slice(0, -1)}0`, // '0' is not in the base58 alphabet
    RSA_ID.slice(0, -2), // digest too short
    '12D3KooW', // truncated
    'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', // a CID, but not libp2p-key
  ]
  for (const str of cases) {
    it(JSON.stringify(str), () => {
      assert.throws(() => peerIdToBytes(str), InvalidPeerIdError)
    })
  }
})
