// What a remote's CONNECT can make a client dial: only IP addresses with a port, public unless
// the host is on a testbed, never the client's relays, server or bootstrap peers, and a few.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { PunchAddrFilter } from '../../src/client/punch-addrs.js'
import {
  capPunchTargets,
  infrastructureKeys,
  MAX_PUNCH_ADDRS,
  MAX_PUNCH_IPS_PER_VERSION,
  screenPunchTargets,
} from '../../src/client/punch-targets.js'

const peer = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
const relay = peerIdFromString('12D3KooWSoLzampfxc4t3sy9z7yq1Cgzbi7zGXpV7nkRJy4xJ5dP')
const ma = (text: string): Multiaddr => multiaddr(text)
const reasons = (addrs: string[], allowPrivate = false, infrastructure: string[] = []) =>
  screenPunchTargets(addrs.map(ma), {
    allowPrivate,
    infrastructure: infrastructureKeys(infrastructure.map((ip) => ({ ip, port: 4001 }))),
  }).refused.map(({ addr, reason }) => `${addr} ${reason}`)

describe('punch targets', () => {
  it('accepts public IPv4 and IPv6 addresses with a port', () => {
    const good = ['/ip4/11.0.0.7/tcp/4001', '/ip6/2600:1::7/udp/4001/quic-v1', '/ip4/8.8.8.8/tcp/1']
    assert.deepEqual(reasons(good), [])
  })

  it('refuses private, loopback, link-local and shared ranges on the public network', () => {
    const privateOnes = [
      '/ip4/10.1.0.2/tcp/4001',
      '/ip4/192.168.1.1/tcp/4001',
      '/ip4/172.16.0.1/tcp/4001',
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/169.254.1.1/tcp/4001',
      '/ip4/100.64.0.1/tcp/4001',
      '/ip6/::1/tcp/4001',
      '/ip6/fe80::1/tcp/4001',
      '/ip6/fd00::1/tcp/4001',
      '/ip6/2001:db8::1/tcp/4001',
    ]
    assert.deepEqual(
      reasons(privateOnes),
      privateOnes.map((a) => `${a} private`),
    )
    assert.deepEqual(reasons(privateOnes, true), [], 'a testbed may punch them')
  })

  it('never dials unspecified, multicast or broadcast addresses, not even on a testbed', () => {
    const never = [
      '/ip4/0.0.0.0/tcp/4001',
      '/ip4/224.0.0.1/tcp/4001',
      '/ip4/239.255.255.250/udp/1900/quic-v1',
      '/ip4/255.255.255.255/tcp/4001',
      '/ip6/::/tcp/4001',
      '/ip6/ff02::1/tcp/4001',
    ]
    assert.deepEqual(
      reasons(never, true),
      never.map((a) => `${a} not-unicast`),
    )
  })

  it('refuses port 0, DNS names and the infrastructure’s IPs', () => {
    assert.deepEqual(
      reasons(
        [
          '/ip4/11.0.0.7/tcp/0',
          '/dns4/example.org/tcp/4001',
          '/ip4/11.0.0.2/tcp/4001',
          '/ip4/11.0.0.2/udp/9/quic-v1',
        ],
        false,
        ['11.0.0.2'],
      ),
      [
        '/ip4/11.0.0.7/tcp/0 port',
        '/dns4/example.org/tcp/4001 not-ip',
        '/ip4/11.0.0.2/tcp/4001 infrastructure',
        '/ip4/11.0.0.2/udp/9/quic-v1 infrastructure',
      ],
    )
  })

  it('on a testbed, a private infrastructure IP is refused only at its own port', () => {
    // Every node of a one-machine testbed is at 127.0.0.1: only the relay's own endpoint is off limits.
    assert.deepEqual(reasons(['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4100'], true, ['127.0.0.1']), [
      '/ip4/127.0.0.1/tcp/4001 infrastructure',
    ])
  })

  it('dials at most a few addresses of a few IPs', () => {
    const sameIp = Array.from({ length: 12 }, (_, i) => ma(`/ip4/11.0.0.7/tcp/${4000 + i}`))
    assert.equal(capPunchTargets(sameIp).accepted.length, MAX_PUNCH_ADDRS)
    const manyIps = Array.from({ length: 5 }, (_, i) => ma(`/ip4/11.0.0.${10 + i}/tcp/4001`))
    const capped = capPunchTargets([
      ...manyIps,
      ma('/ip6/2600:1::7/tcp/4001'),
      ma('/ip4/11.0.0.10/udp/1/quic-v1'),
    ])
    assert.deepEqual(capped.accepted.map(String), [
      ...manyIps.slice(0, MAX_PUNCH_IPS_PER_VERSION).map(String),
      '/ip6/2600:1::7/tcp/4001',
      '/ip4/11.0.0.10/udp/1/quic-v1',
    ])
    assert.equal(capped.refused.length, 5 - MAX_PUNCH_IPS_PER_VERSION)
  })

  it('the host’s filter never punches the round’s relay and notes odd refusals in the report', () => {
    const filter = new PunchAddrFilter({
      transports: new Set(['tcp', 'quic']),
      infrastructure: [{ ip: '11.0.0.1', port: 10000 }],
    })
    filter.begin(peer, [], [ma(`/ip4/11.0.0.2/tcp/4001/p2p/${relay}/p2p-circuit`)])
    const own = '/ip4/11.0.0.9/tcp/4100'
    const offered = [
      own,
      '/ip4/11.0.0.2/tcp/4001', // the relay
      '/ip4/11.0.0.1/tcp/10000', // the server
      '/ip4/10.2.0.2/tcp/4100', // its LAN
      '/ip4/11.0.0.9/tcp/0',
    ].map(ma)
    assert.deepEqual(filter.select(offered, peer).map(String), [own])
    // A second CONNECT with the same addresses counts each refusal once.
    filter.select(offered, peer)
    const result = filter.end()
    assert.deepEqual(result.refused, { infrastructure: 2, private: 1, port: 1 })
    assert.match(result.note ?? '', /refused to punch .*11\.0\.0\.2\/tcp\/4001 \(infrastructure\)/)
    assert.doesNotMatch(result.note ?? '', /10\.2\.0\.2/, 'a LAN address is common, not odd')
  })

  it('says so when nothing is left to punch', () => {
    const filter = new PunchAddrFilter()
    filter.begin(peer, [])
    assert.deepEqual(filter.select([ma('/ip4/192.168.0.2/tcp/4001')], peer), [])
    assert.match(filter.end().note ?? '', /offered no address this client can punch/)
  })
})
