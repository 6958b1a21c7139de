// The honeypot's identity on disk, so that its peer ID (which DHT peers remember) survives a
// restart. Format: one line, base64 of the libp2p protobuf encoding of the private key — the
// format of the Go punchr's key files (pkg/key), so a Go honeypot's key works here. A new
// file gets an Ed25519 key and mode 0600.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ConfigError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'

/** The key in `path`, or a new one written there when the file does not exist. */
export async function loadOrCreateKey(path: string, log: Logger): Promise<PrivateKey> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    // 'wx': a file that appeared meanwhile (a second start) is not overwritten; that start fails.
    await writeFile(path, `${Buffer.from(privateKeyToProtobuf(key)).toString('base64')}\n`, {
      flag: 'wx',
      mode: 0o600,
    })
    log.info({ path }, 'new honeypot identity written')
    return key
  }
  const mode = (await stat(path)).mode & 0o777
  if ((mode & 0o077) !== 0) {
    await chmod(path, 0o600)
    log.warn({ path, was: mode.toString(8) }, 'key file was readable by others; set its mode to 0600')
  }
  try {
    return privateKeyFromProtobuf(Buffer.from(text.trim().split('\n')[0] ?? '', 'base64'))
  } catch (err) {
    // Never replace the file: it is the honeypot's identity.
    throw new ConfigError(
      `${path} is not a base64 libp2p private key (${err instanceof Error ? err.message : String(err)})`,
    )
  }
}
