// The little of X.509 (RFC 5280) that libp2p TLS needs: write a self-signed certificate with
// custom extensions, and read back the fields a verifier checks. DER structure comes from
// asn1js; keys, signatures and the self-signature check from node:crypto, which is
// synchronous (a TLS verify callback then costs no trip through the thread pool).
import { type KeyObject, sign, X509Certificate } from 'node:crypto'
import * as asn1js from 'asn1js'

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const

// Signature algorithms with a hash of at least 256 bits (the spec forbids MD5 and SHA-1).
// RSASSA-PSS is left out: it names its hash in parameters, and no libp2p implementation
// makes PSS certificates.
const STRONG_SIGNATURE_ALGORITHMS = new Set([
  OID.ecdsaWithSha256,
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  '1.3.101.112', // Ed25519
  '1.3.101.113', // Ed448
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
])

export interface X509Extension {
  oid: string
  critical: boolean
  /** The DER inside the extension's OCTET STRING. */
  value: Uint8Array
}

export interface SelfSignedInit {
  /** A P-256 key pair; the certificate is signed with ECDSA and SHA-256. */
  privateKey: KeyObject
  publicKey: KeyObject
  notBefore: Date
  notAfter: Date
  extensions: readonly X509Extension[]
}

/** What a verifier needs from a certificate. */
export interface ParsedCertificate {
  notBefore: Date
  notAfter: Date
  /** The DER SubjectPublicKeyInfo, as the libp2p signature covers it. */
  subjectPublicKeyInfo: Uint8Array
  /** False for an EC key with explicit curve parameters (spec: NamedCurve only). */
  namedCurve: boolean
  /** Signed with a hash of at least 256 bits, by an algorithm we know. */
  strongSignature: boolean
  extensions: X509Extension[]
  /** Whether the certificate's own key verifies its signature. */
  selfSignatureValid(): boolean
}

/** A DER X.509 v3 certificate, issuer and subject empty, signed by its own key. */
export function selfSignedCertificate(init: SelfSignedInit): Uint8Array {
  const spki = init.publicKey.export({ format: 'der', type: 'spki' })
  const ecdsaWithSha256 = new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: OID.ecdsaWithSha256 })],
  })
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Integer({ value: 2 })],
      }),
      new asn1js.Integer({ valueHex: serialNumber() }),
      ecdsaWithSha256,
      new asn1js.Sequence(), // issuer: empty, as rust-libp2p writes it
      new asn1js.Sequence({ value: [time(init.notBefore), time(init.notAfter)] }),
      new asn1js.Sequence(), // subject
      fromDer(spki),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 3 },
        value: [new asn1js.Sequence({ value: init.extensions.map(encodeExtension) })],
      }),
    ],
  })
  const tbsDer = new Uint8Array(tbs.toBER())
  // node:crypto writes ECDSA signatures DER-encoded, as X.509 wants them.
  const signature = sign('sha256', tbsDer, init.privateKey)
  const certificate = new asn1js.Sequence({
    value: [fromDer(tbsDer), ecdsaWithSha256, new asn1js.BitString({ valueHex: signature })],
  })
  return new Uint8Array(certificate.toBER())
}

/** Reads a DER certificate; throws when it is not one. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  // node:crypto checks the overall encoding and gives the self-signature check.
  const node = new X509Certificate(der)
  const [tbs, signatureAlgorithm] = sequence(fromDer(der), 'Certificate')
  const fields = sequence(tbs, 'TBSCertificate')
  // The version is an explicit [0] in front; v1 certificates leave it out.
  const offset = fields[0] instanceof asn1js.Constructed && fields[0].idBlock.tagClass === 3 ? 1 : 0
  const validity = sequence(fields[offset + 3], 'Validity')
  const spki = fields[offset + 5]
  if (spki === undefined) throw new Error('TBSCertificate without SubjectPublicKeyInfo')
  const publicKey = node.publicKey
  return {
    notBefore: dateOf(validity[0]),
    notAfter: dateOf(validity[1]),
    // The bytes as sent: a re-encoding could differ (e.g. a compressed EC point).
    subjectPublicKeyInfo: spki.valueBeforeDecodeView.slice(),
    namedCurve: hasNamedCurve(spki),
    strongSignature: STRONG_SIGNATURE_ALGORITHMS.has(algorithmOf(signatureAlgorithm)),
    extensions: fields.slice(offset + 6).flatMap(extensionsOf),
    selfSignatureValid: () => node.verify(publicKey),
  }
}

function encodeExtension(extension: X509Extension): asn1js.Sequence {
  return new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: extension.oid }),
      ...(extension.critical ? [new asn1js.Boolean({ value: true })] : []),
      new asn1js.OctetString({ valueHex: extension.value }),
    ],
  })
}

// Positive and minimally encoded: the first byte is neither 0 nor ≥ 0x80.
function serialNumber(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes
}

// RFC 5280: UTCTime up to 2049, GeneralizedTime after; whole seconds either way.
function time(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  const valueDate = new Date(Math.floor(date.getTime() / 1000) * 1000)
  const year = valueDate.getUTCFullYear()
  return year >= 1950 && year < 2050
    ? new asn1js.UTCTime({ valueDate })
    : new asn1js.GeneralizedTime({ valueDate })
}

function fromDer(der: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(der)
  if (parsed.offset === -1 || parsed.offset !== der.byteLength) throw new Error('not a single DER value')
  return parsed.result
}

function sequence(value: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(value instanceof asn1js.Sequence)) throw new Error(`${what} is not a SEQUENCE`)
  return value.valueBlock.value
}

function dateOf(value: asn1js.AsnType | undefined): Date {
  if (value instanceof asn1js.UTCTime || value instanceof asn1js.GeneralizedTime) return value.toDate()
  throw new Error('a validity time is neither UTCTime nor GeneralizedTime')
}

function algorithmOf(value: asn1js.AsnType | undefined): string {
  const [oid] = sequence(value, 'AlgorithmIdentifier')
  if (!(oid instanceof asn1js.ObjectIdentifier)) throw new Error('AlgorithmIdentifier without OID')
  return oid.getValue()
}

// An EC key's parameters must be a curve OID; a SEQUENCE of explicit parameters is refused.
function hasNamedCurve(spki: asn1js.AsnType | undefined): boolean {
  const [algorithm] = sequence(spki, 'SubjectPublicKeyInfo')
  const [oid, parameters] = sequence(algorithm, 'AlgorithmIdentifier')
  if (!(oid instanceof asn1js.ObjectIdentifier) || oid.getValue() !== OID.ecPublicKey) return true
  return parameters instanceof asn1js.ObjectIdentifier
}

// Fields after the key: optional [1] and [2] unique IDs, then [3] EXPLICIT Extensions.
function extensionsOf(field: asn1js.AsnType): X509Extension[] {
  if (
    !(field instanceof asn1js.Constructed) ||
    field.idBlock.tagClass !== 3 ||
    field.idBlock.tagNumber !== 3
  ) {
    return []
  }
  return sequence(field.valueBlock.value[0], 'Extensions').map((item) => {
    const parts = sequence(item, 'Extension')
    const [oid, second, third] = parts
    const critical = second instanceof asn1js.Boolean ? second.getValue() : false
    const value = second instanceof asn1js.Boolean ? third : second
    if (!(oid instanceof asn1js.ObjectIdentifier) || !(value instanceof asn1js.OctetString)) {
      throw new Error('malformed Extension')
    }
    return { oid: oid.getValue(), critical, value: value.valueBlock.valueHexView.slice() }
  })
}
