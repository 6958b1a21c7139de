import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { logger } from '../lib/logger.js'
import type { Database, Queryable } from './database.js'

const log = logger('migrate')

/** Where the numbered SQL migrations live (sql/migrations at the package root). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../sql/migrations/', import.meta.url))

export interface Migration {
  /** The leading number of the file name, e.g. 1 for 0001_initial.sql. */
  version: number
  name: string
  sql: string
}

/** Reads `NNNN_name.sql` files in order; refuses gaps and duplicates. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  return files.map((file, index) => {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file)
    if (match === null) throw new Error(`migration file name must be NNNN_name.sql: ${file}`)
    const version = Number(match[1])
    if (version !== index + 1)
      throw new Error(`migrations must be numbered 1, 2, 3…: expected ${index + 1}, found ${file}`)
    return { version, name: match[2]!, sql: readFileSync(`${dir}/${file}`, 'utf8') }
  })
}

/**
 * Held by whoever migrates, for the whole of one migration: server replicas started together
 * on one database (and a `punchr migrate` beside them) take turns, and each applies only what
 * the ones before it left. Without it two could both see version n missing, and the second's
 * CREATE failed its start. An arbitrary constant (the ASCII of "punchr").
 */
const MIGRATION_LOCK = 0x70756e636872

/**
 * Applies every migration not applied yet, each in its own transaction, and records it in
 * `schema_migrations`. A database migrated by a newer punchr (unknown versions) is refused,
 * and so is one whose applied migration files were edited afterwards. Safe to run from several
 * processes at once (MIGRATION_LOCK).
 */
export async function migrate(db: Database, migrations: Migration[] = readMigrations()): Promise<number[]> {
  const newest = migrations.at(-1)?.version ?? 0
  const applied = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    // IF NOT EXISTS alone is no guard against a concurrent CREATE: the lock is.
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      sha256     TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`)
    return appliedMigrations(tx)
  })
  for (const [version] of applied) {
    if (version > newest) {
      throw new Error(
        `database schema version ${version} is newer than this punchr knows (${newest}); upgrade punchr`,
      )
    }
  }
  const done: number[] = []
  for (const m of migrations) {
    const digest = createHash('sha256').update(m.sql).digest('hex')
    if (applied.has(m.version)) {
      checkUnchanged(m, digest, applied.get(m.version)!)
      continue
    }
    const appliedHere = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      // Another process may have applied it while this one waited for the lock.
      const meanwhile = (await appliedMigrations(tx)).get(m.version)
      if (meanwhile !== undefined) {
        checkUnchanged(m, digest, meanwhile)
        return false
      }
      // Migrations are plain multi-statement scripts; run them statement by statement so the
      // same code works on pg (no multi-statement prepared queries) and PGlite.
      for (const statement of splitStatements(m.sql)) await tx.query(statement)
      await tx.query('INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        digest,
      ])
      return true
    })
    if (!appliedHere) continue
    log.info({ version: m.version, name: m.name }, 'applied migration')
    done.push(m.version)
  }
  return done
}

async function appliedMigrations(tx: Queryable): Promise<Map<number, string>> {
  const rows = await tx.query<{ version: number; sha256: string }>(
    'SELECT version, sha256 FROM schema_migrations ORDER BY version',
  )
  return new Map(rows.map((r) => [Number(r.version), r.sha256]))
}

function checkUnchanged(m: Migration, digest: string, appliedDigest: string): void {
  if (appliedDigest !== digest)
    throw new Error(
      `migration ${m.version}_${m.name} was changed after it was applied; add a new migration instead`,
    )
}

/**
 * Splits a migration script into statements at semicolons that end a line, outside of
 * comments and of dollar-quoted bodies (`$$ … $$`, `$body$ … $body$`: a PL/pgSQL function is
 * one statement whatever its lines). Migrations keep to that style (no semicolon ends a line
 * inside a string literal); a test runs every shipped migration through it.
 */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
  // Dollar-quoted bodies are set aside, the rest is split, and the bodies are put back.
  const bodies: string[] = []
  const masked = withoutComments.replace(/\$(\w*)\$[\s\S]*?\$\1\$/g, (body) => {
    bodies.push(body)
    return `@@dollar-quoted body ${bodies.length - 1}@@`
  })
  return masked
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/@@dollar-quoted body (\d+)@@/g, (_, i: string) => bodies[Number(i)]!).trim())
    .filter((s) => s !== '')
}
