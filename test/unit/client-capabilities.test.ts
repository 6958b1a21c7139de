import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { undecodablePattern } from '../../src/db/allocation.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import {
  clientCapabilities,
  clientImplementation,
  listenIpVersions,
  undecodableProtocolNames,
} from '../../src/server/client-capabilities.js'
import { chooseProtocolFilter } from '../../src/server/protocol-filter.js'

const GO = 'punchr/go-client/v0.9.0+2f2aada'
const RUST = 'punchr/rust-client/0.1.0'
const OURS = 'punchr/ts-client/0.1.0 transports=tcp,quic'

/** Every filter a capability can be served (all draws over a fine grid of random values). */
function servedFilters(agent: string, ipVersions: number[] | null): string[] {
  const { filters } = clientCapabilities(agent, ipVersions)
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) seen.add(chooseProtocolFilter(filters, i / 1000).join('+') || 'none')
  return [...seen].sort()
}

/** Whether a stored address would be handed to a client that cannot decode `names`. */
function handedOut(maddr: string, names: string[]): boolean {
  const pattern = undecodablePattern(names)
  return pattern === undefined || !new RegExp(pattern).test(maddr)
}

describe('clientImplementation', () => {
  const cases: [string | null, string][] = [
    [OURS, 'punchr-ts'],
    ['punchr/ts-client/0.2.0', 'punchr-ts'],
    [GO, 'punchr-go'],
    ['punchr/go-client/dev+', 'punchr-go'],
    [RUST, 'punchr-rust'],
    ['kubo/0.25.0', 'other'],
    ['punchr/go-client', 'other'],
    ['', 'other'],
    [null, 'other'],
  ]
  for (const [agent, expected] of cases)
    it(`${JSON.stringify(agent)} → ${expected}`, () => assert.equal(clientImplementation(agent), expected))
})

describe('what each client can decode', () => {
  const tcpRelay = '/ip4/11.0.0.2/tcp/4001/p2p/12D3KooWRelay/p2p-circuit/p2p/12D3KooWRemote'
  const quicV1Relay = '/ip4/11.0.0.2/udp/4001/quic-v1/p2p/12D3KooWRelay/p2p-circuit'
  const quicDraft29Relay = '/ip4/11.0.0.2/udp/4001/quic/p2p/12D3KooWRelay/p2p-circuit'
  const webtransport = '/ip4/11.0.0.2/udp/4001/quic-v1/webtransport/certhash/uEiA/p2p-circuit'
  const webrtcDirect = '/ip4/11.0.0.2/udp/4001/webrtc-direct/certhash/uEiA/p2p-circuit'

  it('the Go client (go-multiaddr 0.7): no quic-v1, so neither QUIC v1 nor WebTransport relay addresses', () => {
    const names = undecodableProtocolNames(clientCapabilities(GO, null).decodes)
    assert.ok(names.includes('quic-v1'))
    assert.ok(!names.includes('quic') && !names.includes('tcp') && !names.includes('p2p-circuit'))
    assert.equal(handedOut(tcpRelay, names), true)
    assert.equal(handedOut(quicDraft29Relay, names), true, '/quic/ is not /quic-v1/')
    assert.equal(handedOut(quicV1Relay, names), false)
    assert.equal(handedOut(webtransport, names), false)
    // 280 is `webrtc` in go-multiaddr 0.7 and `webrtc-direct` today: the code decodes.
    assert.equal(handedOut(webrtcDirect, names), true)
  })

  it('the Rust client (multiaddr 0.16): quic-v1 yes, webtransport no', () => {
    const names = undecodableProtocolNames(clientCapabilities(RUST, null).decodes)
    assert.equal(handedOut(quicV1Relay, names), true)
    assert.equal(handedOut(webtransport, names), false)
  })

  it('ours and unknown agents decode everything', () => {
    assert.deepEqual(undecodableProtocolNames(clientCapabilities(OURS, null).decodes), [])
    assert.deepEqual(undecodableProtocolNames(clientCapabilities('kubo/0.25.0', null).decodes), [])
    assert.equal(undecodablePattern([]), undefined)
  })

  it('refuses a protocol name that could break the pattern', () => {
    assert.throws(() => undecodablePattern(['quic|tcp']), /unexpected multiaddr protocol name/)
  })
})

describe('which filters each client is served', () => {
  it('before its first report, any client gets unfiltered rounds only', () => {
    for (const agent of [OURS, GO, RUST, 'kubo/0.25.0'])
      assert.deepEqual(servedFilters(agent, null), ['none'])
  })

  it('ours: TCP and quic-v1 on the IP versions it listens on', () => {
    assert.deepEqual(servedFilters(OURS, [4]), ['4+461', '4+6', 'none'])
    assert.deepEqual(servedFilters(OURS, [4, 6]), ['4+461', '4+6', '41+461', '41+6', 'none'])
    assert.deepEqual(servedFilters('punchr/ts-client/0.1.0 transports=quic', [4]), ['4+461', 'none'])
  })

  it('the Go client: TCP filters only, never a code it cannot decode', () => {
    assert.deepEqual(servedFilters(GO, [4]), ['4+6', 'none'])
    assert.deepEqual(servedFilters(GO, [4, 6]), ['41+6', '4+6', 'none'].sort())
  })

  it('the Rust client ignores filters, so it is served none', () => {
    assert.deepEqual(servedFilters(RUST, [4, 6]), ['none'])
  })
})

describe('listenIpVersions', () => {
  const versions = (...addrs: string[]) => listenIpVersions(addrs.map((a) => classifyMultiaddr(multiaddr(a))))

  it('counts addresses that reach beyond the host, private ones included', () => {
    assert.deepEqual(versions('/ip4/10.1.0.2/tcp/1', '/ip6/2001:db8::2/tcp/1'), [4, 6])
    assert.deepEqual(versions('/ip4/10.1.0.2/tcp/1', '/ip6/fd00::2/udp/1/quic-v1'), [4, 6])
  })

  it('ignores loopback, link-local, unspecified and DNS addresses', () => {
    assert.deepEqual(
      versions('/ip4/10.1.0.2/tcp/1', '/ip6/::1/tcp/1', '/ip6/fe80::1/tcp/1', '/ip6/::/tcp/1'),
      [4],
    )
    assert.deepEqual(versions('/ip4/127.0.0.1/tcp/1', '/ip4/0.0.0.0/tcp/1', '/ip4/169.254.1.1/tcp/1'), [])
    assert.deepEqual(versions('/dns4/example.com/tcp/1'), [])
  })
})
