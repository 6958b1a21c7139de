import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { classifyMultiaddrBytes, InvalidMultiaddrError } from '../../src/lib/multiaddr.js'
import {
  InvalidPeerIdError,
  parsePeerIdBytes,
  parsePeerIdBytesCached,
  peerIdToBytes,
} from '../../src/lib/peer-id.js'
import { BoundedMemo, RecentMap } from '../../src/lib/recent-map.js'

describe('RecentMap', () => {
  it('holds at most two generations, keeping what is used and dropping what is not', () => {
    const map = new RecentMap<number>(2)
    map.set('a', 1)
    map.set('b', 2)
    // 'c' starts a new generation: a and b are now the old one.
    map.set('c', 3)
    assert.equal(map.get('a'), 1, 'found in the old generation, and moved to the current one')
    // The current generation (c, a) is full: 'd' retires it, and b (never used again) is gone.
    map.set('d', 4)
    assert.equal(map.get('b'), undefined)
    assert.equal(map.get('a'), 1)
    assert.equal(map.get('c'), 3)
    assert.ok(map.size <= 4)
  })

  it('forgets a deleted key in both generations', () => {
    const map = new RecentMap<number>(1)
    map.set('a', 1)
    map.set('b', 2)
    map.delete('a')
    map.delete('b')
    assert.equal(map.get('a'), undefined)
    assert.equal(map.get('b'), undefined)
  })

  it('never grows past two generations, whatever arrives', () => {
    const map = new RecentMap<number>(100)
    for (let i = 0; i < 10_000; i++) map.set(`key ${i}`, i)
    assert.ok(map.size <= 200, `${map.size} entries`)
    assert.equal(map.get('key 9999'), 9999)
  })

  it('refuses an empty generation', () => {
    assert.throws(() => new RecentMap(0), RangeError)
  })
})

describe('BoundedMemo', () => {
  it('computes once per distinct bytes, wherever they sit in a buffer', () => {
    let calls = 0
    const memo = new BoundedMemo(
      (bytes) => {
        calls++
        return bytes.length
      },
      10,
      16,
    )
    const buffer = Uint8Array.from([9, 1, 2, 3, 9])
    assert.equal(memo.get(buffer.subarray(1, 4)), 3)
    assert.equal(memo.get(Uint8Array.from([1, 2, 3])), 3)
    assert.equal(calls, 1)
    assert.equal(memo.get(Uint8Array.from([1, 2, 3, 4])), 4)
    assert.equal(calls, 2)
  })

  it('computes bytes longer than its key limit every time, and keeps none of them', () => {
    let calls = 0
    const memo = new BoundedMemo(() => ++calls, 10, 4)
    const long = new Uint8Array(5)
    memo.get(long)
    memo.get(long)
    assert.equal(calls, 2)
    assert.equal(memo.size, 0)
  })

  it('remembers no failure: bad bytes throw every time', () => {
    let calls = 0
    const memo = new BoundedMemo(
      () => {
        calls++
        throw new Error('bad')
      },
      10,
      16,
    )
    assert.throws(() => memo.get(Uint8Array.from([1])), /bad/)
    assert.throws(() => memo.get(Uint8Array.from([1])), /bad/)
    assert.equal(calls, 2)
  })
})

describe('classifyMultiaddrBytes', () => {
  it('answers the same bytes with the same frozen classification', () => {
    const bytes = multiaddr('/ip4/11.0.0.1/tcp/4001').bytes
    const first = classifyMultiaddrBytes(bytes)
    assert.equal(classifyMultiaddrBytes(Uint8Array.from(bytes)), first)
    assert.deepEqual(first, {
      maddr: '/ip4/11.0.0.1/tcp/4001',
      isRelay: false,
      isPublic: true,
      ip: '11.0.0.1',
      ipVersion: 4,
      transport: 'tcp',
    })
    assert.ok(Object.isFrozen(first), 'shared between reports, so nobody may change it')
  })

  it('refuses malformed bytes each time they come', () => {
    const truncated = multiaddr('/ip4/11.0.0.1/tcp/4001').bytes.subarray(0, 4)
    assert.throws(() => classifyMultiaddrBytes(truncated), InvalidMultiaddrError)
    assert.throws(() => classifyMultiaddrBytes(truncated), InvalidMultiaddrError)
  })
})

describe('parsePeerIdBytesCached', () => {
  it('answers as parsePeerIdBytes does, and refuses bad bytes each time they come', () => {
    const id = '12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE'
    const bytes = peerIdToBytes(id)
    assert.equal(parsePeerIdBytesCached(bytes), parsePeerIdBytes(bytes))
    assert.equal(parsePeerIdBytesCached(Uint8Array.from(bytes)), id)
    const truncated = bytes.subarray(0, 10)
    assert.throws(() => parsePeerIdBytesCached(truncated), InvalidPeerIdError)
    assert.throws(() => parsePeerIdBytesCached(truncated), InvalidPeerIdError)
  })
})
