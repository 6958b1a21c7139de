import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import {
  native,
  type QUICClientConfigInput,
  type QUICClientCrypto,
  type QUICServerConfigInput,
  type QUICServerCrypto,
  type TLSVerifyCallback,
} from '@matrixai/quic'
import { CertificateError, type TlsCredentials, verifyPeerCertificate } from './tls-certificate.js'

/** libp2p's ALPN for QUIC (spec: quic-v1 uses TLS 1.3 with ALPN "libp2p"). */
const ALPN = 'libp2p'

export interface QuicConnectionOptions {
  /** A connection with no packet for this long is closed; also bounds a dial's handshake. */
  maxIdleTimeout: number
  /** PING this often when idle, which also keeps NAT mappings open. */
  keepAliveInterval: number
  /** Bidirectional streams the peer may have open at once. */
  maxInboundStreams: number
}

// As go-libp2p: 30 s idle timeout, keep-alive every 15 s, 256 streams.
export const DEFAULT_CONNECTION_OPTIONS: QuicConnectionOptions = {
  maxIdleTimeout: 30_000,
  keepAliveInterval: 15_000,
  maxInboundStreams: 256,
}

/**
 * The TLS verify callback: the libp2p certificate check of the spec. @matrixai/quic counts a
 * connection as established only after this resolved without an error code, so by the time
 * libp2p gets a connection the peer is authenticated. A refused certificate closes the
 * handshake with a TLS alert; `verdict` learns the peer or why it was refused.
 */
export function certificateCheck(
  expected: PeerId | undefined,
  verdict: (result: PeerId | CertificateError) => void = () => {},
): TLSVerifyCallback {
  return async (chain) => {
    try {
      verdict(await verifyPeerCertificate(chain, expected))
      return undefined
    } catch (err) {
      const rejection = err instanceof CertificateError ? err : new CertificateError('malformed', String(err))
      verdict(rejection)
      return rejection.reason === 'expired' || rejection.reason === 'not-yet-valid'
        ? native.CryptoError.CertificateExpired
        : native.CryptoError.BadCertificate
    }
  }
}

/** The QUIC config of both sides: our certificate, ALPN, mutual authentication. */
export function quicConfig(
  credentials: TlsCredentials,
  options: QuicConnectionOptions,
  verifyCallback: TLSVerifyCallback,
): QUICServerConfigInput & QUICClientConfigInput {
  return {
    key: credentials.privateKeyPem,
    cert: credentials.certificatePem,
    applicationProtos: [ALPN],
    // Servers too must ask for the client's certificate (spec: mutual authentication).
    verifyPeer: true,
    verifyCallback,
    maxIdleTimeout: options.maxIdleTimeout,
    keepAliveIntervalTime: options.keepAliveInterval,
    initialMaxStreamsBidi: options.maxInboundStreams,
    // libp2p uses bidirectional streams only; a peer opening a unidirectional one breaks the
    // stream limit and loses the connection, as with rust-libp2p.
    initialMaxStreamsUni: 0,
  }
}

/** Random bytes for connection IDs. */
export const CLIENT_CRYPTO: QUICClientCrypto = {
  ops: {
    randomBytes: async (data) => {
      crypto.getRandomValues(new Uint8Array(data))
    },
  },
}

/**
 * The server's key for its stateless Retry tokens and connection IDs (HMAC-SHA256), fresh
 * per listener: tokens need not survive a restart.
 */
export function serverCrypto(): QUICServerCrypto {
  const hmac = (key: ArrayBuffer, data: ArrayBuffer) =>
    createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest()
  return {
    key: Uint8Array.from(randomBytes(32)).buffer,
    ops: {
      sign: async (key, data) => Uint8Array.from(hmac(key, data)).buffer,
      verify: async (key, data, signature) => {
        const expected = hmac(key, data)
        return signature.byteLength === expected.length && timingSafeEqual(Buffer.from(signature), expected)
      },
    },
  }
}
