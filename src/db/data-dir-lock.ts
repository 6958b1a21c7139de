import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { UserFacingError } from '../lib/errors.js'

/** Another live process has the embedded database open. */
export class DataDirLockedError extends UserFacingError {
  override readonly name = 'DataDirLockedError'
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * PGlite is a single-process database: two processes on one data folder corrupt it. The
 * first process to open the folder writes its PID to `punchr.lock`; a second one gets a
 * clear error. A lock left by a dead process is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'punchr.lock')
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(file, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileSync(file, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(
          `the embedded database in ${dataDir} is in use by process ${pid} (a running punchr server?); stop it first, or use PostgreSQL (DATABASE_URL) to share one database between processes`,
        )
      }
      rmSync(file, { force: true })
    }
  }
  throw new DataDirLockedError(`could not lock ${file}`)
}
