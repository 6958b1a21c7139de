import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { MeasuringHost } from '../../src/client/host.js'
import { freePorts } from '../../src/client/ports.js'
import { quicTransport } from '../../src/quic/transport.js'

/** What `MeasuringHost.bootstrap` says when it cannot start, so the user knows what to change. */
describe('measuring host bootstrap errors', () => {
  let host: MeasuringHost
  const someone = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

  before(async () => {
    host = await MeasuringHost.create({
      privateKey: await generateKeyPair('Ed25519'),
      agentVersion: 'punchr/test',
      listenHost: '127.0.0.1',
      listenPort: 0,
      dialPort: 0,
      transports: ['quic'],
    })
  })
  after(async () => {
    await host.stop()
  })

  it('names the transports when no bootstrap address fits them', async () => {
    const tcpOnly = multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${await someone()}`)
    await assert.rejects(host.bootstrap([tcpOnly]), (err: Error) => {
      assert.match(err.message, /no bootstrap address it can dial with its transports \(quic\)/)
      assert.match(err.message, /\/tcp\/4001/)
      return true
    })
  })

  it('lists every failed dial when none of the peers answers', async () => {
    const nobody = multiaddr(`/ip4/127.0.0.1/udp/9/quic-v1/p2p/${await someone()}`)
    await assert.rejects(host.bootstrap([nobody], { dialTimeout: 2_000 }), (err: Error) => {
      assert.match(
        err.message,
        /reached none of the bootstrap peers \(\/ip4\/127\.0\.0\.1\/udp\/9\/quic-v1\/p2p\/\w+: /,
      )
      return true
    })
  })
})

/**
 * A dual-stack host (IPv4 and IPv6, TCP and QUIC) bootstraps from a peer on both loopback
 * addresses: one connection per path, and an observed address on each, which its CONNECT can
 * then offer for the punch of either family.
 */
describe('dual-stack measuring host', () => {
  let peer: Libp2p
  let host: MeasuringHost

  before(async () => {
    peer = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0', '/ip6/::/udp/0/quic-v1'] },
      transports: [tcp(), quicTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    })
    const [dialPort] = await freePorts('::', 1)
    host = await MeasuringHost.create({
      privateKey: await generateKeyPair('Ed25519'),
      agentVersion: 'punchr/test',
      listenHost: '0.0.0.0',
      ipFamilies: ['ip4', 'ip6'],
      listenPort: 0,
      dialPort: dialPort!,
    })
  })
  after(async () => {
    await host?.stop()
    await peer?.stop()
  })

  it('listens on both families and learns an observed address on each path', async () => {
    const listening = host.node.getMultiaddrs().map(String)
    assert.ok(
      listening.some((a) => a.startsWith('/ip4/') && a.includes('/tcp/')),
      listening.join(' '),
    )
    assert.ok(
      listening.some((a) => a.startsWith('/ip6/') && a.includes('/tcp/')),
      listening.join(' '),
    )
    const quicPort = /\/udp\/(\d+)\/quic-v1/.exec(listening.find((a) => a.includes('/quic-v1'))!)![1]
    // Both families of the peer's QUIC socket (dual-stack :: answers on 127.0.0.1 too).
    const peerId = peer.peerId.toString()
    const peerQuicPort = /\/udp\/(\d+)\//.exec(
      peer
        .getMultiaddrs()
        .map(String)
        .find((a) => a.includes('/udp/'))!,
    )![1]
    const targets = [
      ...peer.getMultiaddrs().filter((a) => a.toString().includes('/tcp/')),
      multiaddr(`/ip4/127.0.0.1/udp/${peerQuicPort}/quic-v1/p2p/${peerId}`),
      multiaddr(`/ip6/::1/udp/${peerQuicPort}/quic-v1/p2p/${peerId}`),
    ]
    const result = await host.bootstrap(targets, { observeTimeout: 10_000 })
    const observed = result.observed.map(String)
    // One per path; which of the peer's addresses of a family was dialled is libp2p's choice.
    for (const pattern of [
      /^\/ip4\/.*\/tcp\/\d+$/,
      /^\/ip6\/.*\/tcp\/\d+$/,
      /^\/ip4\/.*\/quic-v1$/,
      /^\/ip6\/.*\/quic-v1$/,
    ])
      assert.ok(
        observed.some((a) => pattern.test(a)),
        `${pattern} among the observed addresses ${observed.join(' ')}`,
      )
    // TCP dials of both families leave from the fixed port; QUIC from the one listening socket.
    assert.ok(observed.filter((a) => a.includes('/tcp/')).every((a) => a.endsWith(`/tcp/${host.dialPort}`)))
    assert.ok(observed.filter((a) => a.includes('/udp/')).every((a) => a.includes(`/udp/${quicPort}/`)))
    assert.deepEqual([...host.observedFamilies()].sort(), ['ip4', 'ip6'])
  })
})
