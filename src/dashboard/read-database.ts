import { DataDirLockedError } from '../db/data-dir-lock.js'
import { type Database, openDatabase } from '../db/database.js'
import { migrate } from '../db/migrate.js'
import { UserFacingError } from '../lib/errors.js'

/**
 * Opens the database for `punchr report` / `punchr export`, runs `fn`, closes it. The
 * embedded PGlite database is single-process: while `punchr up` holds the data folder the
 * lock error says so, and where the same numbers can be had meanwhile.
 */
export async function withReadDatabase<T>(
  where: { dataDir: string; databaseUrl: string | undefined },
  command: string,
  fn: (db: Database) => Promise<T>,
): Promise<T> {
  let db: Database
  try {
    db = await openDatabase(where)
  } catch (err) {
    if (err instanceof DataDirLockedError)
      throw new UserFacingError(
        `${err.message}. punchr ${command} reads the database itself; while the server runs, its dashboard and JSON endpoints (/api/…, docs/DASHBOARD.md) have the same numbers`,
      )
    throw err
  }
  try {
    // An empty data folder gets the schema, so that a report of nothing is empty, not an error.
    await migrate(db)
    return await fn(db)
  } finally {
    await db.close()
  }
}
