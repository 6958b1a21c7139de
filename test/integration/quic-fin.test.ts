// The "lost small stream" of ADR 0004: a FIN that quiche 0.18.0 (inside @matrixai/quic 2.0.9's
// native addon) drops before sending it. Two quiche connections in this process, datagrams
// carried by hand, so that the order is exact:
//
//   the server echoes one byte on stream 0 (sent), a bulk stream fills the congestion window,
//   the server ends stream 0 (a zero-length FIN, which the send() right after cannot emit:
//   the window is full), then the client's ACK for the byte arrives.
//
// quiche counts stream 0's send side complete as soon as its bytes are acked, FIN or not
// (SendBuf::is_complete), and the ACK collects the stream with its FIN still queued: the client
// never learns that stream 0 ended. That is what a quinn peer saw beside a 256 KiB stream (our
// handler had closed, the quinn stream stayed readable). Upstream: cloudflare/quiche#2525 (open),
// fix proposed in cloudflare/quiche#2665. The addon is prebuilt and its Rust sources are not in
// the npm package, so it cannot be patched here (ADR 0004); until a fixed build exists this test
// pins the loss, and fails once a build delivers the FIN.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { native } from '@matrixai/quic'
import { buildQuicheConfig, clientDefault, serverDefault } from '@matrixai/quic/config.js'
import { generateCertificate } from '../../src/quic/tls-certificate.js'

const { quiche } = native
type Conn = ReturnType<typeof quiche.Connection.connect>

const CLIENT = { host: '127.0.0.1', port: 40_001 }
const SERVER = { host: '127.0.0.1', port: 40_002 }
const ALPN = 'test'

/** Everything `conn` wants to send now (what @matrixai/quic's send() does after each write). */
function flush(conn: Conn): Buffer[] {
  const datagrams: Buffer[] = []
  while (true) {
    const buffer = Buffer.alloc(quiche.MAX_DATAGRAM_SIZE)
    const result = conn.send(buffer)
    if (result === null) return datagrams
    datagrams.push(buffer.subarray(0, result[0]))
  }
}

function deliver(datagrams: Buffer[], to: Conn, toAddr: typeof CLIENT, fromAddr: typeof CLIENT): void {
  for (const datagram of datagrams) to.recv(datagram, { from: fromAddr, to: toAddr })
}

/** Reads what `conn` has on a stream; `fin` once the peer's FIN was read. */
function read(conn: Conn, streamId: number): { bytes: number; fin: boolean } {
  const buffer = Buffer.alloc(65_536)
  let bytes = 0
  while (true) {
    const result = conn.streamRecv(streamId, buffer)
    if (result === null) return { bytes, fin: conn.streamFinished(streamId) }
    bytes += result[0]
    if (result[1]) return { bytes, fin: true }
  }
}

async function connectedPair(): Promise<{ client: Conn; server: Conn; pump: () => void }> {
  const credentials = await generateCertificate(await generateKeyPair('Ed25519'))
  const serverConfig = buildQuicheConfig({
    ...serverDefault,
    key: credentials.privateKeyPem,
    cert: credentials.certificatePem,
    applicationProtos: [ALPN],
  })
  const clientConfig = buildQuicheConfig({ ...clientDefault, applicationProtos: [ALPN], verifyPeer: false })
  const client = quiche.Connection.connect(
    null,
    randomBytes(quiche.MAX_CONN_ID_LEN),
    CLIENT,
    SERVER,
    clientConfig,
  )
  const first = flush(client)
  const server = quiche.Connection.accept(
    randomBytes(quiche.MAX_CONN_ID_LEN),
    null,
    SERVER,
    CLIENT,
    serverConfig,
  )
  deliver(first, server, SERVER, CLIENT)
  /** Carries datagrams both ways until neither side has any. */
  const pump = () => {
    for (let round = 0; round < 10_000; round++) {
      const up = flush(client)
      deliver(up, server, SERVER, CLIENT)
      const down = flush(server)
      deliver(down, client, CLIENT, SERVER)
      if (up.length === 0 && down.length === 0) return
    }
    throw new Error('the connections never went quiet')
  }
  pump()
  assert.ok(client.isEstablished() && server.isEstablished(), 'handshake')
  return { client, server, pump }
}

describe('QUIC: a FIN written while the congestion window is full', { timeout: 30_000 }, () => {
  // The bug, pinned: this test asserts the FIN is lost. When it fails, the quiche inside
  // @matrixai/quic delivers it: drop this pin, and in quic-interop.test.ts put the bulk echo
  // back beside the small ones (ADR 0004).
  it('is lost by quiche 0.18.0 (cloudflare/quiche#2525): the pin of a known bug', async () => {
    const { client, server, pump } = await connectedPair()
    const ECHO = 0 // client-initiated bidirectional stream
    const BULK = 1 // server-initiated bidirectional stream

    // The client sends one byte and ends its side; the server reads both.
    client.streamSend(ECHO, Buffer.from([42]), true)
    pump()
    assert.deepEqual(read(server, ECHO), { bytes: 1, fin: true })

    // The server echoes the byte (sent at once), and a bulk stream fills the window.
    server.streamSend(ECHO, Buffer.from([42]), false)
    const echoed = flush(server)
    const bulk = Buffer.alloc(256 * 1024, 7)
    let bulkOffset = server.streamSend(BULK, bulk, true) ?? 0
    const bulkFlight = flush(server)
    assert.ok(bulkOffset < bulk.length, 'the congestion window took only part of the bulk stream')

    // The client gets the byte, and acknowledges it (the ACK is on its way).
    deliver([...echoed, ...bulkFlight], client, CLIENT, SERVER)
    assert.deepEqual(read(client, ECHO), { bytes: 1, fin: false })
    const ack = flush(client)

    // The server ends stream 0. The window is full: its send() emits nothing, the FIN waits.
    server.streamSend(ECHO, Buffer.alloc(0), true)
    assert.equal(flush(server).length, 0, 'the congestion window is full')

    // The ACK arrives; then everything runs to the end, the bulk stream included.
    deliver(ack, server, SERVER, CLIENT)
    let bulkRead = { bytes: 0, fin: false }
    for (let round = 0; round < 1_000 && !bulkRead.fin; round++) {
      if (bulkOffset < bulk.length)
        bulkOffset += server.streamSend(BULK, bulk.subarray(bulkOffset), true) ?? 0
      pump()
      const more = read(client, BULK)
      bulkRead = { bytes: bulkRead.bytes + more.bytes, fin: more.fin }
    }
    assert.deepEqual(bulkRead, { bytes: bulk.length, fin: true }, 'the bulk stream arrived whole')

    // A fixed quiche lets the client learn that stream 0 ended; 0.18.0 never does.
    assert.equal(
      client.streamFinished(ECHO),
      false,
      'the FIN on stream 0 arrived: this quiche is fixed, remove the pin (see the comment above)',
    )
  })
})
