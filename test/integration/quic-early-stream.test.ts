// Q3 (docs/INTEROP.md): a peer that opens its first stream in the same datagram as its
// handshake's last packet, as quic-go does when go-libp2p opens identify the moment the
// handshake completes. @matrixai/quic 2.0.9 reset such a stream (its server connection was
// still "starting"), which cost ~5 % of go-libp2p connections their identify; patched in
// patches/@matrixai+quic+2.0.9.patch (ADR 0004). A raw quiche client puts the stream in that
// datagram every time, so this fails on every connection without the patch.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'
import { parseQuicAddress } from '../../src/quic/multiaddr.js'
import { generateCertificate } from '../../src/quic/tls-certificate.js'
import { quicTransport } from '../../src/quic/transport.js'
import { openWithFirstStream } from '../support/quiche-peer.js'
import { until } from '../support/until.js'

const LOOPBACK = '127.0.0.1'
const IDENTIFY = '/ipfs/id/1.0.0'
const MULTISTREAM = '/multistream/1.0.0'

/** One multistream-select message: a varint length (< 128 here), the text, a newline. */
function mssMessage(text: string): Buffer {
  const line = Buffer.from(`${text}\n`)
  return Buffer.concat([Buffer.from([line.length]), line])
}

describe('QUIC: a stream opened in the handshake’s last datagram', { timeout: 60_000 }, () => {
  let listener: Libp2p<{ identify: Identify }>
  let port: number

  before(async () => {
    listener = await createLibp2p({
      addresses: { listen: [`/ip4/${LOOPBACK}/udp/0/quic-v1`] },
      transports: [quicTransport()],
      services: { identify: identify() },
      // Twenty connections from 127.0.0.1 in a second: libp2p denies more than 5 by default.
      connectionManager: { inboundConnectionThreshold: 1_000 },
    })
    port = parseQuicAddress(listener.getMultiaddrs()[0]!).port
  })
  after(async () => {
    await listener?.stop()
  })

  it('is served by our listener: identify answers on it, every time', async () => {
    const expectedHeader = Buffer.concat([mssMessage(MULTISTREAM), mssMessage(IDENTIFY)])
    const connections = 20
    for (let i = 0; i < connections; i++) {
      const key = await generateKeyPair('Ed25519')
      const credentials = await generateCertificate(key)
      const outcome = await openWithFirstStream(
        {
          host: LOOPBACK,
          port,
          certificatePem: credentials.certificatePem,
          privateKeyPem: credentials.privateKeyPem,
          alpn: 'libp2p',
          firstStream: expectedHeader,
        },
        // identify writes its message and closes: FIN ends the wait.
        () => false,
      )
      // The premise: the stream's first bytes rode in the datagram with the client's Finished.
      assert.ok(
        outcome.finishedDatagram.includes('handshake') && outcome.finishedDatagram.at(-1) === 'short',
        `connection ${i}: the Finished's datagram held ${outcome.finishedDatagram.join('+') || 'nothing seen'}`,
      )
      assert.equal(outcome.resetCode, undefined, `connection ${i}: the listener reset stream 0`)
      assert.deepEqual(
        outcome.received.subarray(0, expectedHeader.length),
        expectedHeader,
        `connection ${i}: multistream-select answered`,
      )
      assert.ok(
        outcome.received.length > expectedHeader.length,
        `connection ${i}: an identify message followed`,
      )
      const peer = peerIdFromPrivateKey(key)
      await until(`connection ${i} closed on the listener`, () => listener.getConnections(peer).length === 0)
    }
  })
})
