// A lab peer's key: fresh per run unless a key file is given, so that a campaign can keep
// peer IDs stable across runs (and recognise a remote in the server's database).
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

/** The Ed25519 key in `file` (libp2p protobuf encoding); created there when missing. */
export async function loadOrCreateKey(file?: string): Promise<PrivateKey> {
  if (file !== undefined && existsSync(file)) return privateKeyFromProtobuf(await readFile(file))
  const key = await generateKeyPair('Ed25519')
  if (file !== undefined) await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}
