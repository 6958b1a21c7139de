// Which identified peers the honeypot records (docs/PROTOCOL.md, "Honeypot"), and how walks spread over the keyspace.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { RELAY_STOP_PROTOCOL, verdict } from '../../src/honeypot/qualify.js'
import { walkKeys } from '../../src/honeypot/walker.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'

const RELAY = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'
const DCUTR = ['/ipfs/id/1.0.0', '/libp2p/dcutr']
const NO_DCUTR = ['/ipfs/id/1.0.0', '/ipfs/kad/1.0.0']

describe('honeypot: which peers are recorded', () => {
  const cases: [string, string[], string[], ReturnType<typeof verdict>][] = [
    ['dcutr, relay addresses only', DCUTR, [`/ip4/11.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`], 'recorded'],
    [
      'dcutr, relay over IPv6 and QUIC',
      DCUTR,
      [`/ip6/2a01:4f8::1/udp/4001/quic-v1/p2p/${RELAY}/p2p-circuit`],
      'recorded',
    ],
    [
      'dcutr, relay plus private and loopback addresses',
      DCUTR,
      [
        `/ip4/11.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`,
        '/ip4/192.168.1.10/tcp/4001',
        '/ip4/127.0.0.1/tcp/4001',
        '/ip6/::1/tcp/4001',
        '/ip6/fe80::1/tcp/4001',
        '/ip4/100.64.0.7/tcp/4001',
      ],
      'recorded',
    ],
    ['dcutr, no address at all', DCUTR, [], 'recorded'],
    [
      'dcutr, a public IPv4 address besides the relay',
      DCUTR,
      [`/ip4/11.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`, '/ip4/11.0.0.5/tcp/4001'],
      'public',
    ],
    ['dcutr, a public IPv6 address', DCUTR, ['/ip6/2a01:4f8::5/udp/4001/quic-v1'], 'public'],
    ['dcutr, a DNS address (assumed public)', DCUTR, ['/dns4/example.com/tcp/4001'], 'public'],
    [
      'no dcutr, relay addresses only',
      NO_DCUTR,
      [`/ip4/11.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`],
      'not_dcutr',
    ],
    ['no dcutr, public address', NO_DCUTR, ['/ip4/11.0.0.5/tcp/4001'], 'not_dcutr'],
    ['a protocol that only starts like dcutr', ['/libp2p/dcutr/2.0.0'], [], 'not_dcutr'],
  ]
  for (const [name, protocols, addrs, expected] of cases) {
    it(`${name}: ${expected}`, () => {
      assert.equal(
        verdict(
          protocols,
          addrs.map((a) => classifyMultiaddr(multiaddr(a))),
        ),
        expected,
      )
    })
  }

  it('records a relay-only rust-libp2p relay client without /libp2p/dcutr, marked inferred; nothing else unannounced', () => {
    const RUST = 'my-app rust-libp2p/0.57.1'
    const STOCK_RUST = ['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', RELAY_STOP_PROTOCOL]
    const relayOnly = [`/ip4/11.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`, '/ip4/192.168.1.10/tcp/4001'].map(
      (a) => classifyMultiaddr(multiaddr(a)),
    )
    const withPublic = [...relayOnly, classifyMultiaddr(multiaddr('/ip4/11.0.0.5/tcp/4001'))]
    assert.equal(verdict(STOCK_RUST, relayOnly, RUST), 'inferred')
    assert.equal(
      verdict([...STOCK_RUST, '/libp2p/dcutr'], relayOnly, RUST),
      'recorded',
      'announced: not inferred',
    )
    assert.equal(verdict(STOCK_RUST, withPublic, RUST), 'not_dcutr', 'dialable directly')
    assert.equal(
      verdict(STOCK_RUST, relayOnly.slice(1), RUST),
      'not_dcutr',
      'no relay address to reach it by',
    )
    assert.equal(verdict(STOCK_RUST.slice(0, 2), relayOnly, RUST), 'not_dcutr', 'no relay client')
    assert.equal(
      verdict(STOCK_RUST, relayOnly, 'kubo/0.30.0'),
      'not_dcutr',
      'an agent that announces DCUtR when it has it',
    )
    assert.equal(
      verdict(STOCK_RUST, relayOnly, 'trust-libp2physics/1'),
      'not_dcutr',
      'a name that only contains it',
    )
    assert.equal(verdict(STOCK_RUST, relayOnly), 'not_dcutr', 'no agent')
  })
})

describe('honeypot: walk keys', () => {
  it('one key under each 4-bit prefix of the keyspace kad-dht looks up (SHA-256 of the key)', () => {
    const keys = walkKeys(4)
    assert.equal(keys.length, 16)
    const prefixes = keys.map((k) => createHash('sha256').update(k).digest()[0]! >> 4)
    assert.deepEqual(
      [...prefixes].sort((a, b) => a - b),
      [...Array(16).keys()],
    )
  })

  it('new keys every walk', () => {
    const a = walkKeys(2).map((k) => Buffer.from(k).toString('hex'))
    const b = walkKeys(2).map((k) => Buffer.from(k).toString('hex'))
    assert.equal(a.filter((k) => b.includes(k)).length, 0)
  })
})
