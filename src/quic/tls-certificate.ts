// libp2p TLS (https://github.com/libp2p/specs/blob/master/tls/tls.md): a host proves its peer ID
// with a self-signed certificate whose key is unrelated to the host key. The certificate
// carries the host's public key and the host key's signature over the certificate's key in
// an extension, so any key type libp2p knows can authenticate, whatever TLS can sign with.
import { generateKeyPairSync } from 'node:crypto'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import * as asn1js from 'asn1js'
import { type ParsedCertificate, parseCertificate, selfSignedCertificate } from './x509.js'

/** The libp2p Public Key Extension, an OID IANA allocated to libp2p. */
export const LIBP2P_EXTENSION_OID = '1.3.6.1.4.1.53594.1.1'
const SIGNATURE_PREFIX = Buffer.from('libp2p-tls-handshake:')
// As go-libp2p: valid from an hour ago (peers' clocks differ), for a hundred years (the key
// lives as long as the process, so expiry protects nothing).
const VALID_BEFORE_NOW_MS = 60 * 60 * 1000
const VALID_FOR_MS = 100 * 365 * 24 * 60 * 60 * 1000

/** Why a peer's certificate was refused. */
export type CertificateRejection =
  | 'chain-length'
  | 'malformed'
  | 'not-yet-valid'
  | 'expired'
  | 'unsupported-algorithm'
  | 'bad-self-signature'
  | 'missing-extension'
  | 'duplicate-extension'
  | 'unknown-critical-extension'
  | 'malformed-extension'
  | 'bad-signature'
  | 'wrong-peer'

/** A peer's certificate chain does not authenticate it (or not as the expected peer). */
export class CertificateError extends Error {
  override readonly name = 'CertificateError'
  constructor(
    readonly reason: CertificateRejection,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** A certificate and its private key, PEM-encoded as quiche wants them. */
export interface TlsCredentials {
  certificatePem: string
  privateKeyPem: string
}

export interface CertificateValidity {
  notBefore: Date
  notAfter: Date
}

/**
 * A self-signed certificate with a fresh ECDSA P-256 key (what go-libp2p and rust-libp2p use,
 * so every peer can check it) carrying the host's identity in a critical libp2p extension.
 */
export async function generateCertificate(
  hostKey: PrivateKey,
  validity: CertificateValidity = defaultValidity(),
): Promise<TlsCredentials> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))
  const signature = await hostKey.sign(signedData(spki))
  const der = selfSignedCertificate({
    privateKey,
    publicKey,
    ...validity,
    extensions: [
      { oid: LIBP2P_EXTENSION_OID, critical: true, value: encodeSignedKey(hostKey.publicKey, signature) },
    ],
  })
  return {
    certificatePem: toPem('CERTIFICATE', der),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  }
}

/**
 * Checks a peer's certificate chain as the spec requires and returns the peer it
 * authenticates. With `expected` (the peer a dial names), another peer is refused.
 */
export async function verifyPeerCertificate(
  chain: readonly Uint8Array[],
  expected?: PeerId,
): Promise<PeerId> {
  if (chain.length !== 1) {
    throw new CertificateError('chain-length', `expected exactly one certificate, got ${chain.length}`)
  }
  const certificate = parse(chain[0]!)
  checkValidity(certificate, new Date())
  checkSignature(certificate)
  const { publicKey, signature } = libp2pExtension(certificate)
  if (!(await verifies(publicKey, signedData(certificate.subjectPublicKeyInfo), signature))) {
    throw new CertificateError('bad-signature', 'the host key did not sign the certificate key')
  }
  const peer = peerIdFromPublicKey(publicKey)
  if (expected !== undefined && !expected.equals(peer)) {
    throw new CertificateError(
      'wrong-peer',
      `expected peer ${expected.toString()}, the certificate is ${peer}`,
    )
  }
  return peer
}

function defaultValidity(): CertificateValidity {
  const now = Date.now()
  return { notBefore: new Date(now - VALID_BEFORE_NOW_MS), notAfter: new Date(now + VALID_FOR_MS) }
}

function signedData(spki: Uint8Array): Uint8Array {
  return Buffer.concat([SIGNATURE_PREFIX, spki])
}

// SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }. The spec's text
// says BIT STRING; go-libp2p, rust-libp2p and js-libp2p all write OCTET STRING, so that is the
// wire format.
function encodeSignedKey(publicKey: PublicKey, signature: Uint8Array): Uint8Array {
  const signedKey = new asn1js.Sequence({
    value: [
      new asn1js.OctetString({ valueHex: publicKeyToProtobuf(publicKey) }),
      new asn1js.OctetString({ valueHex: signature }),
    ],
  })
  return new Uint8Array(signedKey.toBER())
}

function parse(der: Uint8Array): ParsedCertificate {
  try {
    return parseCertificate(der)
  } catch (err) {
    throw new CertificateError('malformed', `not an X.509 certificate: ${messageOf(err)}`, { cause: err })
  }
}

function checkValidity(certificate: ParsedCertificate, now: Date): void {
  if (now < certificate.notBefore) {
    throw new CertificateError('not-yet-valid', `valid only from ${certificate.notBefore.toISOString()}`)
  }
  if (now > certificate.notAfter) {
    throw new CertificateError('expired', `expired at ${certificate.notAfter.toISOString()}`)
  }
}

function checkSignature(certificate: ParsedCertificate): void {
  if (!certificate.strongSignature) {
    throw new CertificateError(
      'unsupported-algorithm',
      'signed with a hash under 256 bits or an unknown algorithm',
    )
  }
  if (!certificate.namedCurve) {
    throw new CertificateError('unsupported-algorithm', 'EC key with explicit curve parameters')
  }
  if (!certificate.selfSignatureValid()) {
    throw new CertificateError('bad-self-signature', 'the self-signature is not valid')
  }
}

/**
 * The host key and signature of the one libp2p extension. Unknown critical extensions are
 * refused (spec: the endpoint does not understand them). The extension itself MAY be marked
 * critical, so a non-critical one is accepted: early go-libp2p wrote it that way. Host keys
 * are what @libp2p/crypto reads: Ed25519, secp256k1 and RSA; it cannot read go-libp2p's ECDSA
 * keys (nor can any js-libp2p node), which are refused as unusable.
 */
function libp2pExtension(certificate: ParsedCertificate): { publicKey: PublicKey; signature: Uint8Array } {
  const unknownCritical = certificate.extensions.find((e) => e.critical && e.oid !== LIBP2P_EXTENSION_OID)
  if (unknownCritical !== undefined) {
    throw new CertificateError(
      'unknown-critical-extension',
      `unknown critical extension ${unknownCritical.oid}`,
    )
  }
  const ours = certificate.extensions.filter((e) => e.oid === LIBP2P_EXTENSION_OID)
  if (ours.length === 0) throw new CertificateError('missing-extension', 'no libp2p public key extension')
  if (ours.length > 1) throw new CertificateError('duplicate-extension', 'more than one libp2p extension')
  const { hostKey, signature } = decodeSignedKey(ours[0]!.value)
  try {
    return { publicKey: publicKeyFromProtobuf(hostKey), signature }
  } catch (err) {
    throw new CertificateError('malformed-extension', `unusable host key: ${messageOf(err)}`, { cause: err })
  }
}

function decodeSignedKey(der: Uint8Array): { hostKey: Uint8Array; signature: Uint8Array } {
  const malformed = () => new CertificateError('malformed-extension', 'the extension is not a SignedKey')
  const parsed = asn1js.fromBER(der)
  if (parsed.offset !== der.byteLength || !(parsed.result instanceof asn1js.Sequence)) throw malformed()
  const fields = parsed.result.valueBlock.value
  const [hostKey, signature] = fields
  if (
    fields.length !== 2 ||
    !(hostKey instanceof asn1js.OctetString) ||
    !(signature instanceof asn1js.OctetString)
  ) {
    throw malformed()
  }
  return {
    hostKey: hostKey.valueBlock.valueHexView.slice(),
    signature: signature.valueBlock.valueHexView.slice(),
  }
}

async function verifies(publicKey: PublicKey, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    return await publicKey.verify(data, signature)
  } catch {
    // A malformed signature (e.g. bad DER for ECDSA) is simply not a valid one.
    return false
  }
}

function toPem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
