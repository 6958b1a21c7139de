// The QUIC muxer on real @matrixai/quic connections over 127.0.0.1, without libp2p around it,
// so that a stream can be made to arrive before the muxer exists: what happens when a peer
// opens its first stream (identify) together with the end of its handshake.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger, Stream } from '@libp2p/interface'
import {
  events,
  QUICClient,
  type QUICConnection,
  QUICServer,
  QUICSocket,
  type QUICStream,
} from '@matrixai/quic'
import { QuicMultiaddrConnection } from '../../src/quic/connection.js'
import { formatQuicAddress } from '../../src/quic/multiaddr.js'
import { type QuicMuxer, QuicMuxerFactory } from '../../src/quic/muxer.js'
import { nativeLogger } from '../../src/quic/native-logger.js'
import {
  CLIENT_CRYPTO,
  certificateCheck,
  DEFAULT_CONNECTION_OPTIONS,
  quicConfig,
  serverCrypto,
} from '../../src/quic/quic-config.js'
import { codeToReason, reasonToCode } from '../../src/quic/stream.js'
import { generateCertificate } from '../../src/quic/tls-certificate.js'
import { until } from '../support/until.js'

const LOOPBACK = '127.0.0.1'

function silentLog(): Logger {
  const log: Logger = Object.assign(() => {}, {
    error: () => {},
    trace: () => {},
    enabled: false,
    newScope: () => log,
  })
  return log
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks).toString()
}

/** Writes to a new stream of the peer; the returned function closes it. */
async function peerWrites(connection: QUICConnection, text: string): Promise<() => Promise<void>> {
  const writer = connection.newStream('bidi').writable.getWriter()
  await writer.write(Buffer.from(text))
  return () => writer.close()
}

describe('QUIC muxer', { timeout: 30_000 }, () => {
  const native = nativeLogger(silentLog())
  let serverSocket: QUICSocket
  let clientSocket: QUICSocket
  let server: QUICServer
  let client: QUICClient
  let accepted: QUICConnection
  let muxer: QuicMuxer
  // Each inbound stream with its text, read from the moment it is announced: libp2p streams
  // keep no end-of-stream for a reader that comes after it.
  const inbound: { stream: Stream; text: Promise<string> }[] = []

  before(async () => {
    const credentials = await generateCertificate(await generateKeyPair('Ed25519'))
    const config = () => quicConfig(credentials, DEFAULT_CONNECTION_OPTIONS, certificateCheck(undefined))
    serverSocket = new QUICSocket({ logger: native })
    clientSocket = new QUICSocket({ logger: native })
    await serverSocket.start({ host: LOOPBACK, port: 0 })
    await clientSocket.start({ host: LOOPBACK, port: 0 })
    server = new QUICServer({
      socket: serverSocket,
      crypto: serverCrypto(),
      config: config(),
      reasonToCode,
      codeToReason,
      logger: native,
    })
    const connected = new Promise<QUICConnection>((resolve) =>
      server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) =>
        resolve((evt as events.EventQUICServerConnection).detail),
      ),
    )
    await server.start()
    client = await QUICClient.createQUICClient({
      host: LOOPBACK,
      port: serverSocket.port,
      socket: clientSocket,
      crypto: CLIENT_CRYPTO,
      config: config(),
      reasonToCode,
      codeToReason,
      logger: native,
    })
    accepted = await connected
  })

  after(async () => {
    await client?.destroy({ force: true })
    await server?.stop({ force: true })
    await clientSocket?.stop({ force: true })
    await serverSocket?.stop({ force: true })
  })

  it('delivers a stream the peer opened before the muxer existed, with its data', async () => {
    const close = await peerWrites(client.connection, 'early')
    // Let the stream arrive and its (unheard) announcement pass.
    await new Promise((resolve) => setTimeout(resolve, 200))

    const maConn = new QuicMultiaddrConnection({
      connection: accepted,
      remoteAddr: formatQuicAddress(accepted.remoteHost, accepted.remotePort),
      direction: 'inbound',
      log: silentLog(),
      close: () => accepted.stop({ isApp: true, force: true }),
    })
    muxer = new QuicMuxerFactory(accepted).createStreamMuxer(maConn)
    muxer.addEventListener('stream', (evt) =>
      inbound.push({ stream: evt.detail, text: readText(evt.detail) }),
    )
    await until('the first inbound stream', () => inbound.length === 1)
    assert.equal(inbound[0]!.stream.direction, 'inbound')
    await close()
    assert.equal(await inbound[0]!.text, 'early')
  })

  it('delivers streams opened after the muxer exists', async () => {
    const close = await peerWrites(client.connection, 'later')
    await close()
    await until('the second inbound stream', () => inbound.length === 2)
    assert.equal(await inbound[1]!.text, 'later')
  })

  it('opens streams to the peer', async () => {
    const peerStream = new Promise<QUICStream>((resolve) =>
      client.connection.addEventListener(events.EventQUICConnectionStream.name, (evt: Event) =>
        resolve((evt as events.EventQUICConnectionStream).detail),
      ),
    )
    const stream = await muxer.createStream()
    assert.equal(stream.direction, 'outbound')
    stream.send(Buffer.from('from the muxer'))
    await stream.close()
    assert.equal(await readAll((await peerStream).readable), 'from the muxer')
  })
})

async function readText(stream: Stream): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk.subarray())
  return Buffer.concat(chunks).toString()
}
