import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { capRelayAddrs, MAX_RELAY_ADDRS_PER_RESPONSE, relayHopEndpoint } from '../../src/db/relay-hops.js'

const R1 = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const R2 = '12D3KooWGC6TvWhfapngX6wvJHMYvKpDMXPb3ZnCZ6dMoaMtimQ5'
const X = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'

const circuit = (hop: string, relay = R1) => ({ maddr: `${hop}/p2p/${relay}/p2p-circuit/p2p/${X}` })

describe('relayHopEndpoint', () => {
  it('is the hop before /p2p-circuit without the relay peer ID', () => {
    assert.equal(relayHopEndpoint(circuit('/ip4/1.2.3.4/tcp/4001').maddr), '/ip4/1.2.3.4/tcp/4001')
    assert.equal(
      relayHopEndpoint(circuit('/ip6/2001:4860::1/udp/4001/quic-v1').maddr),
      '/ip6/2001:4860::1/udp/4001/quic-v1',
    )
  })

  it('is the same endpoint whatever relay peer ID an address names', () => {
    assert.equal(
      relayHopEndpoint(circuit('/ip4/1.2.3.4/tcp/80', R1).maddr),
      relayHopEndpoint(circuit('/ip4/1.2.3.4/tcp/80', R2).maddr),
    )
  })

  it('tells transports on the same port apart', () => {
    assert.notEqual(
      relayHopEndpoint(circuit('/ip4/1.2.3.4/udp/4001/quic-v1').maddr),
      relayHopEndpoint(circuit('/ip4/1.2.3.4/udp/4001/quic-v1/webtransport').maddr),
    )
  })
})

describe('capRelayAddrs', () => {
  it('keeps an honest list of 2 relays × 8 transport addresses whole, in its order', () => {
    const honest = [R1, R2].flatMap((relay, n) =>
      [`/ip4/11.0.0.${n + 1}`, `/ip6/2001:db9::${n + 1}`].flatMap((ip) =>
        ['/tcp/4001', '/udp/4001/quic-v1', '/udp/4001/quic-v1/webtransport', '/udp/4001/webrtc-direct'].map(
          (t) => circuit(`${ip}${t}`, relay),
        ),
      ),
    )
    assert.equal(honest.length, 16)
    assert.deepEqual(capRelayAddrs(honest), honest)
  })

  it('keeps one address per hop endpoint: the first', () => {
    const first = circuit('/ip4/9.9.9.9/tcp/80', R1)
    const got = capRelayAddrs([first, circuit('/ip4/9.9.9.9/tcp/80', R2), circuit('/ip4/9.9.9.9/tcp/81', R2)])
    assert.deepEqual(
      got.map((a) => a.maddr),
      [first.maddr, circuit('/ip4/9.9.9.9/tcp/81', R2).maddr],
    )
  })

  it(`keeps at most ${MAX_RELAY_ADDRS_PER_RESPONSE} addresses, the first ones`, () => {
    const many = Array.from({ length: 100 }, (_, port) => circuit(`/ip4/9.9.9.9/tcp/${port + 1}`))
    assert.deepEqual(capRelayAddrs(many), many.slice(0, MAX_RELAY_ADDRS_PER_RESPONSE))
    assert.deepEqual(capRelayAddrs(many, 3), many.slice(0, 3))
  })
})
