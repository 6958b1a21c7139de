import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import {
  classifyMultiaddr,
  InvalidMultiaddrError,
  isPublicIp,
  isRelayAddr,
  matchesProtocolFilter,
  PROTOCOL_CODES,
  parseIPv6,
  parseMultiaddrBytes,
  unmapIPv4,
} from '../../src/lib/multiaddr.js'

const RELAY = '12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE'
const REMOTE = 'QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC'

const bytesOf = (ma: string): Uint8Array => multiaddr(ma).bytes
const concat = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => [...p]))

describe('parseMultiaddrBytes', () => {
  const valid = [
    '/ip4/1.2.3.4/tcp/4001',
    '/ip6/2001:db8::1/udp/4001/quic-v1',
    `/ip4/1.2.3.4/udp/4001/quic/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE}`,
    '/dns4/example.com/tcp/443/wss',
    `/ip4/1.2.3.4/udp/443/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ/p2p/${RELAY}`,
    '/ip6zone/eth0/ip6/fe80::1/tcp/1',
  ]
  for (const ma of valid) {
    it(`round-trips ${ma}`, () => {
      const parsed = parseMultiaddrBytes(bytesOf(ma))
      assert.equal(parsed.toString(), ma)
      assert.deepEqual(parsed.bytes, bytesOf(ma))
    })
  }

  const good = bytesOf('/ip4/1.2.3.4/tcp/4001')
  const malformed: [string, Uint8Array][] = [
    ['empty input', new Uint8Array()],
    ['truncated varint code', Uint8Array.from([0x80])],
    ['unknown protocol code', Uint8Array.from([0xff, 0x7f, 1, 2])],
    ['truncated ip4 value', Uint8Array.from([4, 1, 2])],
    ['truncated ip6 value', Uint8Array.from([41, 1, 2, 3])],
    ['truncated tcp port', Uint8Array.from([4, 1, 2, 3, 4, 6, 0x0f])],
    ['length prefix past the end', Uint8Array.from([53, 10, 0x61, 0x62])],
    ['zero-length dns value', Uint8Array.from([53, 0])],
    ['p2p value that is no multihash', Uint8Array.from([0xa5, 0x03, 3, 1, 2, 3])],
    ['non-minimal varint code', Uint8Array.from([0x84, 0x00, 1, 2, 3, 4])],
    ['trailing garbage', concat(good, [0x06])],
    ['trailing unknown code', concat(good, [0x7f])],
  ]
  for (const [name, bytes] of malformed) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseMultiaddrBytes(bytes), InvalidMultiaddrError)
    })
  }

  it('says which bytes were bad', () => {
    assert.throws(() => parseMultiaddrBytes(Uint8Array.from([4, 1, 2])), /0x040102/)
  })
})

describe('classifyMultiaddr', () => {
  const cases: [
    string,
    {
      isRelay: boolean
      isPublic: boolean
      ip: string | null
      ipVersion: 4 | 6 | null
      transport: string | null
    },
  ][] = [
    [
      '/ip4/8.8.8.8/tcp/4001',
      { isRelay: false, isPublic: true, ip: '8.8.8.8', ipVersion: 4, transport: 'tcp' },
    ],
    [
      '/ip4/11.0.0.1/udp/1/quic-v1',
      { isRelay: false, isPublic: true, ip: '11.0.0.1', ipVersion: 4, transport: 'quic-v1' },
    ],
    [
      '/ip4/100.64.0.1/tcp/1',
      { isRelay: false, isPublic: false, ip: '100.64.0.1', ipVersion: 4, transport: 'tcp' },
    ],
    [
      '/ip4/192.168.1.2/udp/1/quic',
      { isRelay: false, isPublic: false, ip: '192.168.1.2', ipVersion: 4, transport: 'quic' },
    ],
    [
      '/ip6/2606:4700::1/tcp/1/ws',
      { isRelay: false, isPublic: true, ip: '2606:4700::1', ipVersion: 6, transport: 'ws' },
    ],
    ['/ip6/::1/tcp/1/wss', { isRelay: false, isPublic: false, ip: '::1', ipVersion: 6, transport: 'wss' }],
    [
      '/ip4/1.2.3.4/tcp/443/tls/ws',
      { isRelay: false, isPublic: true, ip: '1.2.3.4', ipVersion: 4, transport: 'wss' },
    ],
    [
      '/dns4/example.com/tcp/443/wss',
      { isRelay: false, isPublic: true, ip: null, ipVersion: null, transport: 'wss' },
    ],
    [
      '/dns/localhost/tcp/1',
      { isRelay: false, isPublic: false, ip: null, ipVersion: null, transport: 'tcp' },
    ],
    [
      '/dns6/foo.localhost/tcp/1',
      { isRelay: false, isPublic: false, ip: null, ipVersion: null, transport: 'tcp' },
    ],
    [
      '/ip4/1.2.3.4/udp/1/quic-v1/webtransport',
      { isRelay: false, isPublic: true, ip: '1.2.3.4', ipVersion: 4, transport: 'webtransport' },
    ],
    [
      '/ip4/1.2.3.4/udp/1/webrtc-direct',
      { isRelay: false, isPublic: true, ip: '1.2.3.4', ipVersion: 4, transport: 'webrtc-direct' },
    ],
    ['/unix/tmp%2Fsock', { isRelay: false, isPublic: false, ip: null, ipVersion: null, transport: null }],
    // Relay addrs: the transport is the relay hop's, not whatever follows /p2p-circuit.
    [
      `/ip4/1.2.3.4/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE}`,
      { isRelay: true, isPublic: true, ip: '1.2.3.4', ipVersion: 4, transport: 'tcp' },
    ],
    [
      `/ip6/2001:4860::1/udp/4001/quic-v1/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${REMOTE}`,
      { isRelay: true, isPublic: true, ip: '2001:4860::1', ipVersion: 6, transport: 'quic-v1' },
    ],
    [
      `/ip4/10.0.0.1/udp/4001/quic/p2p/${RELAY}/p2p-circuit`,
      { isRelay: true, isPublic: false, ip: '10.0.0.1', ipVersion: 4, transport: 'quic' },
    ],
    [
      `/dns4/relay.example/tcp/443/wss/p2p/${RELAY}/p2p-circuit`,
      { isRelay: true, isPublic: true, ip: null, ipVersion: null, transport: 'wss' },
    ],
    [
      `/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE}`,
      { isRelay: true, isPublic: false, ip: null, ipVersion: null, transport: null },
    ],
  ]
  for (const [ma, expected] of cases) {
    it(ma, () => {
      assert.deepEqual(classifyMultiaddr(multiaddr(ma)), { maddr: ma, ...expected })
      assert.equal(isRelayAddr(multiaddr(ma)), expected.isRelay)
    })
  }
})

describe('isPublicIp', () => {
  const cases: [string, boolean][] = [
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['11.0.0.1', true],
    ['100.63.255.255', true],
    ['100.128.0.0', true],
    ['172.32.0.1', true],
    ['192.0.1.1', true],
    ['223.255.255.255', true],
    ['0.1.2.3', false],
    ['10.1.2.3', false],
    ['100.64.0.1', false],
    ['100.127.255.255', false],
    ['127.0.0.1', false],
    ['169.254.1.1', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.0.0.9', false],
    ['192.0.2.1', false],
    ['192.88.99.1', false],
    ['192.168.0.1', false],
    ['198.18.0.1', false],
    ['198.19.255.255', false],
    ['198.51.100.1', false],
    ['203.0.113.1', false],
    ['224.0.0.1', false],
    ['240.0.0.1', false],
    ['255.255.255.255', false],
    ['2001:4860:4860::8888', true],
    ['2606:4700:4700::1111', true],
    ['2001::1', true], // Teredo
    ['2002:c000:204::1', true], // 6to4
    ['::ffff:8.8.8.8', true],
    ['::ffff:10.0.0.1', false],
    ['64:ff9b::808:808', true],
    ['64:ff9b::a00:1', false],
    ['::', false],
    ['::1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['fe80::1', false],
    ['fe80::1%eth0', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['64:ff9b:1::1', false],
    ['100::1', false],
    ['3fff::1', false],
    ['4000::1', false],
    ['', false],
    ['garbage', false],
    ['1.2.3', false],
    ['1.2.3.256', false],
    [':::1', false],
  ]
  for (const [ip, expected] of cases) {
    it(`${ip || '(empty)'} → ${expected}`, () => assert.equal(isPublicIp(ip), expected))
  }
})

describe('IPv6 parsing', () => {
  const cases: [string, bigint | null][] = [
    ['::', 0n],
    ['::1', 1n],
    ['1::', 1n << 112n],
    ['2001:db8::ff00:42:8329', 0x20010db8000000000000ff0000428329n],
    ['::ffff:1.2.3.4', 0xffff01020304n],
    ['1:2:3:4:5:6:7:8', 0x00010002000300040005000600070008n],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', (1n << 128n) - 1n],
    ['fe80::1%eth0', 0xfe800000000000000000000000000001n],
    ['1:2:3:4:5:6:7', null],
    ['1.2.3.4', null],
  ]
  for (const [ip, expected] of cases) {
    it(ip, () => assert.equal(parseIPv6(ip), expected))
  }

  it('unmaps IPv4-mapped addresses only', () => {
    assert.equal(unmapIPv4('::ffff:8.8.8.8'), '8.8.8.8')
    assert.equal(unmapIPv4('::ffff:808:808'), '8.8.8.8')
    assert.equal(unmapIPv4('2001:4860::8888'), null)
    assert.equal(unmapIPv4('8.8.8.8'), null)
  })
})

describe('matchesProtocolFilter', () => {
  const { IP4, IP6, TCP, QUIC, QUIC_V1 } = PROTOCOL_CODES
  const tcp4 = `/ip4/1.2.3.4/tcp/4001/p2p/${RELAY}/p2p-circuit`
  const quicV1v4 = `/ip4/1.2.3.4/udp/4001/quic-v1/p2p/${RELAY}/p2p-circuit`
  const quicDraft6 = `/ip6/2001:4860::1/udp/4001/quic/p2p/${RELAY}/p2p-circuit`
  const cases: [string, number[], boolean][] = [
    [tcp4, [], true],
    [tcp4, [IP4, TCP], true],
    [tcp4, [IP4, QUIC_V1], false],
    [tcp4, [IP6, TCP], false],
    [quicV1v4, [IP4, QUIC_V1], true],
    [quicV1v4, [IP4, QUIC], true],
    [quicV1v4, [IP4], true],
    [quicV1v4, [TCP], false],
    [quicDraft6, [IP6, QUIC_V1], true],
    [quicDraft6, [IP6, QUIC], true],
    [quicDraft6, [IP4, QUIC], false],
    [quicDraft6, [999], false],
  ]
  for (const [ma, codes, expected] of cases) {
    it(`${ma} ~ [${codes.join(',')}] → ${expected}`, () => {
      assert.equal(matchesProtocolFilter(multiaddr(ma), codes), expected)
    })
  }

  it('uses the wire filter codes', () => {
    assert.deepEqual(PROTOCOL_CODES, { IP4: 4, TCP: 6, IP6: 41, QUIC: 460, QUIC_V1: 461 })
  })
})
