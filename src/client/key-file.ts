// Host identities and the API key on disk. The key file holds one private key per line,
// base64 of libp2p's protobuf encoding: the format of the Go punchr client's key file
// (pkg/key/key.go), so a volunteer's existing hosts keep their identities. Keys are never
// dropped: a larger `--host-count` appends new keys, a smaller one leaves the extra keys unused.
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ConfigError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { writeFileAtomic } from './atomic-file.js'

/** Private files: owner read/write only. */
const FILE_MODE = 0o600
const DIR_MODE = 0o700

/** The first `count` keys of `path`, creating the file or growing it with new Ed25519 keys. */
export async function loadHostKeys(path: string, count: number, log?: Logger): Promise<PrivateKey[]> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`host count must be ≥ 1, got ${count}`)
  const text = await readIfExists(path)
  const keys = text === undefined ? [] : parseKeyFile(text, path)
  if (text !== undefined) await restrictMode(path, log)
  if (keys.length >= count) return keys.slice(0, count)

  const added = await Promise.all(
    Array.from({ length: count - keys.length }, () => generateKeyPair('Ed25519')),
  )
  const all = [...keys, ...added]
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
  // Rewritten whole (not appended) so that a crash cannot leave half a line behind.
  await writeFileAtomic(path, serializeKeys(all), FILE_MODE)
  log?.info({ path, existing: keys.length, added: added.length }, 'host keys written')
  return all.slice(0, count)
}

/** The keys of a key file's text; blank lines are skipped, anything else must be a key. */
export function parseKeyFile(text: string, path = 'key file'): PrivateKey[] {
  const keys: PrivateKey[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '') continue
    try {
      keys.push(privateKeyFromProtobuf(Buffer.from(line, 'base64')))
    } catch (err) {
      // Never "repair" the file: these are someone's identities.
      throw new ConfigError(
        `${path}, line ${i + 1}: not a base64 libp2p private key (${err instanceof Error ? err.message : String(err)})`,
      )
    }
  }
  return keys
}

export function serializeKeys(keys: readonly PrivateKey[]): string {
  return keys.map((key) => `${Buffer.from(privateKeyToProtobuf(key)).toString('base64')}\n`).join('')
}

/** Longer than any key a punchr server makes (`pk_` and 43 characters) or an old server's UUIDs, by far. */
export const MAX_API_KEY_LENGTH = 512

/**
 * The key as typed or pasted, without the blanks around it; throws ConfigError when it cannot
 * be an API key. Loose on purpose (other servers' keys look different), strict on what would
 * break the file or the request: whitespace, control and invisible format characters, length.
 * The message never repeats the key: it is a secret, and errors end up in logs.
 */
export function checkApiKey(raw: string): string {
  const key = raw.trim()
  if (key === '') throw new ConfigError('the API key is empty')
  if (key.length > MAX_API_KEY_LENGTH)
    throw new ConfigError(
      `that is not an API key: ${key.length} characters, more than ${MAX_API_KEY_LENGTH} (a whole file pasted?)`,
    )
  const bad = /[\s\p{Cc}\p{Cf}]/u.exec(key)
  if (bad !== null)
    throw new ConfigError(
      `that is not an API key: it has ${describeChar(bad[0])} at character ${bad.index + 1}; a key is one word without spaces`,
    )
  return key
}

function describeChar(char: string): string {
  const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
  return /\s/u.test(char) ? `a blank (${code})` : `an invisible character (${code})`
}

/**
 * Stores the API key where `punchr client` reads it: the folder is created (0700), the file
 * written atomically and left with mode 0600 even when an older one was wider.
 */
export async function storeApiKey(path: string, key: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
  await writeFileAtomic(path, `${key}\n`, FILE_MODE)
  // The new file was created 0600 minus the umask; make it exactly 0600 whatever the umask.
  await chmod(path, FILE_MODE)
}

/** The API key stored in `path` (trimmed), or undefined when there is no such file. */
export async function readApiKeyFile(path: string, log?: Logger): Promise<string | undefined> {
  const text = await readIfExists(path)
  if (text === undefined) return undefined
  await restrictMode(path, log)
  const key = text.trim()
  if (key === '') throw new ConfigError(`${path} is empty; put the API key in it or pass --api-key`)
  return key
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Secrets readable by others are tightened to 0600 (and said so), not refused. */
async function restrictMode(path: string, log?: Logger): Promise<void> {
  const { mode } = await stat(path)
  if ((mode & 0o077) === 0) return
  await chmod(path, FILE_MODE)
  log?.warn(
    { path, was: (mode & 0o777).toString(8) },
    'secret file was readable by others; set its mode to 0600',
  )
}
