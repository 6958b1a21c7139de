import { after, before, describe } from 'node:test'
import { type Database, openDatabase } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'
import { createTestDatabase, dropTestDatabase, INSTALL_HINT } from './postgres.js'

/** Every database punchr supports; integration suites run once per kind. */
export const databaseKinds = ['pglite', 'postgres'] as const
export type DatabaseKind = (typeof databaseKinds)[number]

/**
 * The PostgreSQL server tests use: PUNCHR_TEST_POSTGRES_URL, set by scripts/test.js (its own
 * throw-away cluster) or by hand (a server of one's own). Missing PostgreSQL is a failure, not a
 * skip: a suite that silently tests only PGlite would hide PostgreSQL-only bugs.
 */
export function postgresTestUrl(): string {
  const url = process.env.PUNCHR_TEST_POSTGRES_URL
  if (url !== undefined && url !== '') return url
  const why = process.env.PUNCHR_TEST_POSTGRES_ERROR
  if (why !== undefined && why !== '') throw new Error(`no PostgreSQL for tests: ${why}`)
  throw new Error(
    `PUNCHR_TEST_POSTGRES_URL is not set: run the tests with \`npm test\`, which starts a throw-away PostgreSQL (${INSTALL_HINT})`,
  )
}

export interface OpenTestDatabaseOptions {
  /** Apply the migrations before returning. @default true */
  migrate?: boolean
}

/**
 * A fresh, empty database of `kind` (migrated unless asked not to): PGlite in memory, or a new
 * uniquely named database on the test PostgreSQL server, dropped again by close().
 */
export async function openTestDatabase(
  kind: DatabaseKind,
  options: OpenTestDatabaseOptions = {},
): Promise<Database> {
  let db: Database
  if (kind === 'pglite') {
    db = await openDatabase({ dataDir: 'memory://' })
  } else {
    const baseUrl = postgresTestUrl()
    const url = await createTestDatabase(baseUrl)
    const inner = await openDatabase({ databaseUrl: url, poolSize: 5 })
    db = {
      ...inner,
      kind: inner.kind,
      close: async () => {
        await inner.close()
        await dropTestDatabase(baseUrl, url)
      },
    }
  }
  if (options.migrate ?? true) {
    try {
      await migrate(db)
    } catch (err) {
      await db.close()
      throw err
    }
  }
  return db
}

/**
 * Runs the suite `fn` once per database kind, each with its own fresh migrated database that
 * is opened before the suite's tests and closed after them. Call `getDb()` inside tests and
 * hooks, not while the suite is being declared (the database is not open yet then).
 */
export function describeEachDatabase(name: string, fn: (getDb: () => Database) => void): void {
  for (const kind of databaseKinds) {
    describe(`${name} [${kind}]`, () => {
      let db: Database | undefined
      before(async () => {
        db = await openTestDatabase(kind)
      })
      after(async () => {
        await db?.close()
        db = undefined
      })
      fn(() => {
        if (db === undefined)
          throw new Error(`the ${kind} test database is not open: call getDb() inside a test or hook`)
        return db
      })
    })
  }
}
