import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MeasuringHost } from '../../src/client/host.js'

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
