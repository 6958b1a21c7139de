import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { formatQuicAddress, isQuicAddress, parseQuicAddress } from '../../src/quic/multiaddr.js'

const PEER = '12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE'

describe('parseQuicAddress', () => {
  it('reads an IPv4 address', () => {
    const parsed = parseQuicAddress(multiaddr('/ip4/192.0.2.1/udp/4001/quic-v1'))
    assert.deepEqual(parsed, { family: 4, host: '192.0.2.1', port: 4001 })
  })

  it('reads an IPv6 address with a peer ID', () => {
    const parsed = parseQuicAddress(multiaddr(`/ip6/2001:db8::1/udp/443/quic-v1/p2p/${PEER}`))
    assert.equal(parsed.family, 6)
    assert.equal(parsed.host, '2001:db8::1')
    assert.equal(parsed.port, 443)
    assert.equal(parsed.peerId?.toString(), PEER)
  })

  const refused: [string, RegExp][] = [
    ['/ip4/192.0.2.1/udp/4001/quic', /draft-29, which is not supported; use \/quic-v1/],
    ['/ip4/192.0.2.1/tcp/4001', /must be followed by \/udp/],
    ['/dns4/example.com/udp/4001/quic-v1', /starts with \/ip4 or \/ip6/],
    ['/ip4/192.0.2.1/udp/4001', /must be followed by \/quic-v1/],
    ['/ip4/192.0.2.1/udp/4001/quic-v1/webtransport', /\/webtransport after \/quic-v1 is not plain QUIC/],
    [`/ip4/192.0.2.1/udp/4001/quic-v1/p2p/${PEER}/p2p-circuit/p2p/${PEER}`, /nothing may follow/],
  ]
  for (const [ma, reason] of refused) {
    it(`refuses ${ma}`, () => {
      assert.throws(() => parseQuicAddress(multiaddr(ma)), { name: 'QuicMultiaddrError', message: reason })
      assert.equal(isQuicAddress(multiaddr(ma)), false)
    })
  }

  it('names the refused address in the error', () => {
    assert.throws(() => parseQuicAddress(multiaddr('/ip4/192.0.2.1/udp/4001/quic')), {
      message: /^\/ip4\/192\.0\.2\.1\/udp\/4001\/quic: /,
    })
  })
})

describe('formatQuicAddress', () => {
  it('writes IPv4, IPv6 and a peer ID, and round-trips through parseQuicAddress', () => {
    assert.equal(formatQuicAddress('192.0.2.1', 4001).toString(), '/ip4/192.0.2.1/udp/4001/quic-v1')
    const v6 = formatQuicAddress(
      '2001:db8::1',
      4001,
      parseQuicAddress(multiaddr(`/ip4/1.2.3.4/udp/1/quic-v1/p2p/${PEER}`)).peerId,
    )
    assert.equal(v6.toString(), `/ip6/2001:db8::1/udp/4001/quic-v1/p2p/${PEER}`)
    assert.equal(parseQuicAddress(v6).peerId?.toString(), PEER)
  })

  it('writes an IPv4-mapped IPv6 peer (a dual-stack socket reports IPv4 that way) as /ip4', () => {
    assert.equal(formatQuicAddress('::ffff:192.0.2.1', 4001).toString(), '/ip4/192.0.2.1/udp/4001/quic-v1')
  })
})
