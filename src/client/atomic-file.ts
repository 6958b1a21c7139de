// Crash-safe file writes: a reader (or the next start after a power cut) sees either the old
// file or the whole new one, never a torn one. The data goes to a temporary name in the same
// folder, is fsync'd, renamed over the target, and the folder is fsync'd so that the rename
// itself is durable (ext4/xfs may otherwise lose it on a crash).
import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Temporary files start with this and end with TEMP_SUFFIX; a start-up may delete leftovers. */
export const TEMP_PREFIX = '.'
export const TEMP_SUFFIX = '.tmp'

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX)
}

/** Writes `data` to `path` atomically and durably, creating it with `mode`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `${TEMP_PREFIX}${basename(path)}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`)
  const handle = await open(temp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  try {
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  await syncDir(dir)
}

/** Makes renames and unlinks inside `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
