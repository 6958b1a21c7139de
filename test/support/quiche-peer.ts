// A QUIC client on raw quiche (the native binding inside @matrixai/quic), for tests that need
// a peer to put bytes on the wire in an exact order, which QUICClient cannot: it lets nobody
// open a stream before its start() has returned.
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { native } from '@matrixai/quic'
import { buildQuicheConfig, clientDefault } from '@matrixai/quic/config.js'

const { quiche } = native

export interface QuichePeerInit {
  host: string
  port: number
  /** The client's certificate and key (PEM): a libp2p listener checks them. */
  certificatePem: string
  privateKeyPem: string
  alpn: string
  /** Written to stream 0, without FIN, in the same datagram as the handshake's last packet. */
  firstStream: Uint8Array
}

/** What the peer saw on stream 0 once it ended (FIN, reset) or the time was up. */
export interface FirstStreamOutcome {
  /** The bytes the server sent back on stream 0. */
  received: Uint8Array
  /** The server's RESET_STREAM code for stream 0, if it reset it. */
  resetCode: number | undefined
  /**
   * The packet types of the datagram that carried the client's Finished (`handshake`), with
   * `short` in it when stream 0's first bytes rode along: the test's premise, checked.
   */
  finishedDatagram: string[]
}

const PACKET_TYPES = ['initial', '0rtt', 'handshake', 'retry'] as const

/**
 * Connects, opens stream 0 in the same flight — the same UDP datagram — as the client's
 * Finished (what quic-go does when its application opens a stream the moment its handshake
 * completes), and reads stream 0 until `isDone(received)`, a reset, FIN, or `timeoutMs`.
 */
export async function openWithFirstStream(
  init: QuichePeerInit,
  isDone: (received: Uint8Array) => boolean,
  timeoutMs = 5_000,
): Promise<FirstStreamOutcome> {
  const socket = dgram.createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  const local = { host: '127.0.0.1', port: socket.address().port }
  const remote = { host: init.host, port: init.port }
  const config = buildQuicheConfig({
    ...clientDefault,
    maxIdleTimeout: 30_000,
    key: init.privateKeyPem,
    cert: init.certificatePem,
    applicationProtos: [init.alpn],
    // The server's certificate is not what these tests look at.
    verifyPeer: false,
  })
  const conn = quiche.Connection.connect(null, randomBytes(quiche.MAX_CONN_ID_LEN), local, remote, config)
  const received: Uint8Array[] = []
  let resetCode: number | undefined
  let finished = false
  let finishedDatagram: string[] = []
  let streamOpened = false
  let timer: NodeJS.Timeout | undefined

  // Sends still on their way: the socket closes only after them (the CONNECTION_CLOSE).
  let sending: Promise<unknown> = Promise.resolve()
  const flush = () => {
    while (true) {
      const buffer = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE)
      const result = conn.send(buffer)
      if (result === null) break
      const datagram = buffer.subarray(0, result[0])
      const types = packetTypes(datagram)
      if (finishedDatagram.length === 0 && streamOpened && types.includes('handshake'))
        finishedDatagram = types
      sending = Promise.all([
        sending,
        new Promise((resolve) => socket.send(datagram, remote.port, remote.host, resolve)),
      ])
    }
    clearTimeout(timer)
    const timeout = conn.timeout()
    if (timeout !== null) {
      timer = setTimeout(() => {
        conn.onTimeout()
        flush()
      }, timeout)
    }
  }

  const readStream0 = () => {
    const buffer = Buffer.allocUnsafe(65_536)
    while (true) {
      let result: [number, boolean] | null
      try {
        result = conn.streamRecv(0, buffer)
      } catch (err) {
        const match = /StreamReset\((\d+)\)/.exec(String((err as Error).message))
        if (match === null) throw err
        resetCode = Number(match[1])
        return
      }
      if (result === null) return
      received.push(Buffer.from(buffer.subarray(0, result[0])))
      if (result[1]) finished = true
    }
  }

  try {
    const ended = new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(resolve, timeoutMs)
      socket.on('message', (data, rinfo) => {
        try {
          conn.recv(data, { to: local, from: { host: rinfo.address, port: rinfo.port } })
          if (!streamOpened && conn.isEstablished()) {
            // Before the send that carries our Finished: both leave in one datagram.
            conn.streamSend(0, init.firstStream, false)
            streamOpened = true
          }
          if (streamOpened) readStream0()
          flush()
          if (resetCode !== undefined || finished || isDone(Buffer.concat(received)) || conn.isClosed()) {
            clearTimeout(deadline)
            resolve()
          }
        } catch (err) {
          clearTimeout(deadline)
          reject(err)
        }
      })
    })
    flush()
    await ended
    return { received: Buffer.concat(received), resetCode, finishedDatagram }
  } finally {
    clearTimeout(timer)
    if (!conn.isClosed()) {
      conn.close(true, 0, Buffer.alloc(0))
      flush()
    }
    clearTimeout(timer)
    await sending
    socket.close()
  }
}

/** The types of the QUIC packets coalesced in one datagram, in order ('short' ends it). */
export function packetTypes(datagram: Uint8Array): string[] {
  const types: string[] = []
  let offset = 0
  while (offset < datagram.length) {
    const first = datagram[offset]!
    if ((first & 0x80) === 0) {
      types.push('short')
      break
    }
    const type = PACKET_TYPES[(first >> 4) & 0x03]!
    types.push(type)
    if (type === 'retry') break
    offset += 5 // first byte, version
    offset += 1 + datagram[offset]! // DCID
    offset += 1 + datagram[offset]! // SCID
    if (type === 'initial') {
      const token = varint(datagram, offset)
      offset += token.size + token.value
    }
    const length = varint(datagram, offset)
    offset += length.size + length.value
  }
  return types
}

function varint(data: Uint8Array, offset: number): { value: number; size: number } {
  const size = 1 << (data[offset]! >> 6)
  let value = data[offset]! & 0x3f
  for (let i = 1; i < size; i++) value = value * 256 + data[offset + i]!
  return { value, size }
}
