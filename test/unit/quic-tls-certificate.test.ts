import assert from 'node:assert/strict'
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate as NodeX509,
} from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import * as asn1js from 'asn1js'
import {
  type CertificateRejection,
  generateCertificate,
  LIBP2P_EXTENSION_OID,
  verifyPeerCertificate,
} from '../../src/quic/tls-certificate.js'
import { parseCertificate, selfSignedCertificate, type X509Extension } from '../../src/quic/x509.js'

// Test vectors of the libp2p TLS spec (tls.md, "Test vectors"), produced by go-libp2p: they
// check that our verifier agrees with another implementation, not only with our generator.
const SPEC_VECTORS = {
  ed25519: {
    peer: '12D3KooWJRSrypvnpHgc6ZAgyCni4KcSmbV7uGRaMw5LgMKT18fq',
    cert: '308201773082011ea003020102020900f5bd0debaa597f52300a06082a8648ce3d04030230003020170d3735303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106082a8648ce3d030107034200046bf9871220d71dcb3483ecdfcbfcc7c103f8509d0974b3c18ab1f1be1302d643103a08f7a7722c1b247ba3876fe2c59e26526f479d7718a85202ddbe47562358a37f307d307b060a2b0601040183a25a01010101ff046a30680424080112207fda21856709c5ae12fd6e8450623f15f11955d384212b89f56e7e136d2e17280440aaa6bffabe91b6f30c35e3aa4f94b1188fed96b0ffdd393f4c58c1c047854120e674ce64c788406d1c2c4b116581fd7411b309881c3c7f20b46e54c7e6fe7f0f300a06082a8648ce3d040302034700304402207d1a1dbd2bda235ff2ec87daf006f9b04ba076a5a5530180cd9c2e8f6399e09d0220458527178c7e77024601dbb1b256593e9b96d961b96349d1f560114f61a87595',
  },
  ecdsa: {
    peer: 'QmZcrvr3r4S3QvwFdae3c2EWTfo792Y14UpzCZurhmiWeX',
    cert: '308201c030820166a003020102020900eaf419a6e3edb4a6300a06082a8648ce3d04030230003020170d3735303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106082a8648ce3d030107034200048dbf1116c7c608d6d5292bd826c3feb53483a89fce434bf64538a359c8e07538ff71f6766239be6a146dcc1a5f3bb934bcd4ae2ae1d4da28ac68b4a20593f06ba381c63081c33081c0060a2b0601040183a25a01010101ff0481ae3081ab045f0803125b3059301306072a8648ce3d020106082a8648ce3d0301070342000484b93fa456a74bd0153919f036db7bc63c802f055bc7023395d0203de718ee0fc7b570b767cdd858aca6c7c4113ff002e78bd2138ac1a3b26dde3519e06979ad04483046022100bc84014cea5a41feabdf4c161096564b9ccf4b62fbef4fe1cd382c84e11101780221009204f086a84cb8ed8a9ddd7868dc90c792ee434adf62c66f99a08a5eba11615b300a06082a8648ce3d0403020348003045022054b437be9a2edf591312d68ff24bf91367ad4143f76cf80b5658f232ade820da022100e23b48de9df9c25d4c83ddddf75d2676f0b9318ee2a6c88a736d85eab94a912f',
  },
  secp256k1: {
    peer: '16Uiu2HAm2dSCBFxuge46aEt7U1oejtYuBUZXxASHqmcfVmk4gsbx',
    cert: '3082018230820128a003020102020900f3b305f55622cfdf300a06082a8648ce3d04030230003020170d3735303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106082a8648ce3d0301070342000458f7e9581748ff9bdd933b655cc0e5552a1248f840658cc221dec2186b5a2fe4641b86ab7590a3422cdbb1000cf97662f27e5910d7569f22feed8829c8b52e0fa38188308185308182060a2b0601040183a25a01010101ff0471306f042508021221026b053094d1112bce799dc8026040ae6d4eb574157929f1598172061f753d9b1b04463044022040712707e97794c478d93989aaa28ae1f71c03af524a8a4bd2d98424948a782302207b61b7f074b696a25fb9e0059141a811cccc4cc28042d9301b9b2a4015e87470300a06082a8648ce3d04030203480030450220143ae4d86fdc8675d2480bb6912eca5e39165df7f572d836aa2f2d6acfab13f8022100831d1979a98f0c4a6fb5069ca374de92f1a1205c962a6d90ad3d7554cb7d9df4',
  },
  // The extension's host key did not sign the certificate key.
  wrongPeerInExtension:
    '308201773082011da003020102020830a73c5d896a1109300a06082a8648ce3d04030230003020170d3735303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106082a8648ce3d03010703420004bbe62df9a7c1c46b7f1f21d556deec5382a36df146fb29c7f1240e60d7d5328570e3b71d99602b77a65c9b3655f62837f8d66b59f1763b8c9beba3be07778043a37f307d307b060a2b0601040183a25a01010101ff046a3068042408011220ec8094573afb9728088860864f7bcea2d4fd412fef09a8e2d24d482377c20db60440ecabae8354afa2f0af4b8d2ad871e865cb5a7c0c8d3dbdbf42de577f92461a0ebb0a28703e33581af7d2a4f2270fc37aec6261fcc95f8af08f3f4806581c730a300a06082a8648ce3d040302034800304502202dfb17a6fa0f94ee0e2e6a3b9fb6e986f311dee27392058016464bd130930a61022100ba4b937a11c8d3172b81e7cd04aedb79b978c4379c2b5b24d565dd5d67d3cb3c',
  // The certificate's self-signature does not verify.
  invalidSelfSignature:
    '3082017d30820122a00302010202093313170a3499a20688300a06082a8648ce3d04030230003024170d3234303132363037323035305a181332313234303130323038323035302e3233325a30003059301306072a8648ce3d020106082a8648ce3d0301070342000499afee204e3f901f69d39339c87f492a8b933ba15a13100f221acb8338ce89a12b3561519e6a374ebce7e3272490b5ccdcaa4b49d98e96bce04f5a940d5dbeb9a37f307d307b060a2b0601040183a25a01010101ff046a30680424080112201542e8da12b6fe72772fa0e1d398c83ed8ad299ecfc992eff0fe8df0474d21810440e5cc3303e3e638d1a65d5020e28f22ca18c9b7aeda2d387604e1e0956dc48a8e0c77dda1468a4fbfefc40b0950838df1913360b2116f0a3e5b8bb67ba2f12c0e300a06082a8648ce3d040302034900304602210091b23a558ef1e058ddc5b014c3233837ad62c19c3089d8f1c9c73e4924b64d3a022100b06e96e0d7717fae95f111111c17cb705644437aa20a12345672f14ef048d3d5',
}

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
const derOf = (pem: string): Uint8Array => Uint8Array.from(new NodeX509(pem).raw)
const HOUR = 60 * 60 * 1000

/** Rejects with a CertificateError of that reason. */
async function rejects(promise: Promise<unknown>, reason: CertificateRejection): Promise<void> {
  await assert.rejects(promise, (err: Error & { reason?: string }) => {
    assert.equal(err.name, 'CertificateError', err.message)
    assert.equal(err.reason, reason, err.message)
    return true
  })
}

/**
 * A certificate with a defect made on purpose: `signedSpki` is what the host key signs (the
 * certificate's own key when left out), `libp2p` false leaves the extension out.
 */
async function craft(
  hostKey: PrivateKey,
  options: { signedSpki?: Uint8Array; libp2p?: boolean; critical?: boolean; extra?: X509Extension[] } = {},
): Promise<Uint8Array> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  const message = Buffer.concat([Buffer.from('libp2p-tls-handshake:'), options.signedSpki ?? spki])
  const signedKey = new asn1js.Sequence({
    value: [
      new asn1js.OctetString({ valueHex: publicKeyToProtobuf(hostKey.publicKey) }),
      new asn1js.OctetString({ valueHex: await hostKey.sign(message) }),
    ],
  }).toBER()
  const extensions = [...(options.extra ?? [])]
  if (options.libp2p !== false) {
    extensions.push({
      oid: LIBP2P_EXTENSION_OID,
      critical: options.critical ?? true,
      value: new Uint8Array(signedKey),
    })
  }
  return selfSignedCertificate({
    privateKey,
    publicKey,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + HOUR),
    extensions,
  })
}

describe('generateCertificate', () => {
  it('makes a certificate that verifies as the host, with a P-256 key matching its private key', async () => {
    const hostKey = await generateKeyPair('Ed25519')
    const { certificatePem, privateKeyPem } = await generateCertificate(hostKey)
    const peer = await verifyPeerCertificate([derOf(certificatePem)], peerIdFromPrivateKey(hostKey))
    assert.equal(peer.toString(), peerIdFromPrivateKey(hostKey).toString())

    const cert = new NodeX509(certificatePem)
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
    const fromPrivate = createPublicKey(createPrivateKey(privateKeyPem)).export({
      format: 'der',
      type: 'spki',
    })
    assert.deepEqual(cert.publicKey.export({ format: 'der', type: 'spki' }), fromPrivate)
    assert.ok(cert.checkIssued(cert), 'self-signed')
  })

  it('marks the libp2p extension critical and is valid from an hour ago', async () => {
    const { certificatePem } = await generateCertificate(await generateKeyPair('Ed25519'))
    const cert = parseCertificate(derOf(certificatePem))
    const ext = cert.extensions.find((e) => e.oid === LIBP2P_EXTENSION_OID)
    assert.equal(ext?.critical, true)
    assert.ok(cert.notBefore.getTime() < Date.now() - HOUR + 60_000)
    assert.ok(cert.notAfter.getTime() > Date.now() + 50 * 365 * 24 * HOUR)
  })

  for (const type of ['secp256k1', 'RSA'] as const) {
    it(`carries a ${type} host key`, async () => {
      const hostKey = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
      const { certificatePem } = await generateCertificate(hostKey)
      const peer = await verifyPeerCertificate([derOf(certificatePem)])
      assert.equal(peer.toString(), peerIdFromPrivateKey(hostKey).toString())
    })
  }
})

describe('verifyPeerCertificate', () => {
  for (const name of ['ed25519', 'secp256k1'] as const) {
    it(`accepts the spec's ${name} test vector and derives its peer ID`, async () => {
      const vector = SPEC_VECTORS[name]
      const peer = await verifyPeerCertificate([hex(vector.cert)], peerIdFromString(vector.peer))
      assert.equal(peer.toString(), vector.peer)
    })
  }

  it("refuses the spec's ECDSA host key vector: @libp2p/crypto cannot read go-libp2p ECDSA keys", async () => {
    await rejects(verifyPeerCertificate([hex(SPEC_VECTORS.ecdsa.cert)]), 'malformed-extension')
  })

  it('refuses a certificate of another peer than the one dialled', async () => {
    const hostKey = await generateKeyPair('Ed25519')
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const { certificatePem } = await generateCertificate(hostKey)
    await rejects(verifyPeerCertificate([derOf(certificatePem)], other), 'wrong-peer')
    await assert.rejects(verifyPeerCertificate([derOf(certificatePem)], other), {
      message: `expected peer ${other}, the certificate is ${peerIdFromPrivateKey(hostKey)}`,
    })
  })

  it('refuses a certificate without the libp2p extension', async () => {
    const cert = await craft(await generateKeyPair('Ed25519'), { libp2p: false })
    await rejects(verifyPeerCertificate([cert]), 'missing-extension')
  })

  it('refuses a host-key signature over another certificate key', async () => {
    const { publicKey: other } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const otherSpki = other.export({ format: 'der', type: 'spki' })
    const cert = await craft(await generateKeyPair('Ed25519'), { signedSpki: otherSpki })
    await rejects(verifyPeerCertificate([cert]), 'bad-signature')
    await rejects(verifyPeerCertificate([hex(SPEC_VECTORS.wrongPeerInExtension)]), 'bad-signature')
  })

  it('refuses an expired and a not yet valid certificate', async () => {
    const hostKey = await generateKeyPair('Ed25519')
    const expired = await generateCertificate(hostKey, {
      notBefore: new Date(Date.now() - 2 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    })
    await rejects(verifyPeerCertificate([derOf(expired.certificatePem)]), 'expired')
    const future = await generateCertificate(hostKey, {
      notBefore: new Date(Date.now() + HOUR),
      notAfter: new Date(Date.now() + 2 * HOUR),
    })
    await rejects(verifyPeerCertificate([derOf(future.certificatePem)]), 'not-yet-valid')
  })

  it('refuses a certificate whose self-signature is invalid', async () => {
    await rejects(verifyPeerCertificate([hex(SPEC_VECTORS.invalidSelfSignature)]), 'bad-self-signature')
  })

  it('refuses anything but exactly one certificate', async () => {
    const { certificatePem } = await generateCertificate(await generateKeyPair('Ed25519'))
    await rejects(verifyPeerCertificate([]), 'chain-length')
    await rejects(verifyPeerCertificate([derOf(certificatePem), derOf(certificatePem)]), 'chain-length')
  })

  it('refuses bytes that are no certificate', async () => {
    await rejects(verifyPeerCertificate([Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01)]), 'malformed')
  })

  it('refuses an unknown critical extension and ignores an unknown non-critical one', async () => {
    const hostKey = await generateKeyPair('Ed25519')
    const unknown = (critical: boolean) => ({
      oid: '1.3.6.1.4.1.99999.1',
      critical,
      value: Uint8Array.of(5, 0),
    })
    await rejects(
      verifyPeerCertificate([await craft(hostKey, { extra: [unknown(true)] })]),
      'unknown-critical-extension',
    )
    const peer = await verifyPeerCertificate([await craft(hostKey, { extra: [unknown(false)] })])
    assert.ok(peer.equals(peerIdFromPrivateKey(hostKey)))
  })

  it('accepts a libp2p extension that is not marked critical (the spec says MAY)', async () => {
    const hostKey = await generateKeyPair('Ed25519')
    const peer = await verifyPeerCertificate([await craft(hostKey, { critical: false })])
    assert.ok(peer.equals(peerIdFromPrivateKey(hostKey)))
  })
})
