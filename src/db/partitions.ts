import { UserFacingError } from '../lib/errors.js'
import type { Database, Queryable } from './database.js'

// The monthly partitions of the result tables (migration 0011; docs/ARCHITECTURE.md, "Monthly
// partitions"): each table below is partitioned by its result's stored time, one partition per
// UTC month, named <table>_YYYY_MM.

/** The partitioned tables: the results and every table that hangs off a result. */
export const RESULT_TABLES = [
  'hole_punch_attempts_x_multi_addresses',
  'hole_punch_attempts',
  'hole_punch_results_x_multi_addresses',
  'hole_punch_results_x_listen_multi_addresses',
  'latency_measurements',
  'port_mappings',
  'network_information',
  'client_nat_behaviours',
  'hole_punch_results',
] as const

export type ResultTable = (typeof RESULT_TABLES)[number]

/** What each result table is called in a query: the partitioned table, or one month of it. */
export type ResultTableNames = Readonly<Record<ResultTable, string>>

/** The partitioned tables themselves: every month still in the database. */
export const LIVE_RESULT_TABLES: ResultTableNames = Object.fromEntries(
  RESULT_TABLES.map((t) => [t, t]),
) as Record<ResultTable, string>

/** A UTC month, `YYYY-MM`. */
export type Month = string

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/

/** Checks a `YYYY-MM` month; the error says what was wrong with it. */
export function parseMonth(text: string): Month {
  if (!MONTH.test(text)) throw new Error(`a month is YYYY-MM, e.g. 2026-11, not "${text}"`)
  return text
}

/** The first instant of a month and of the month after it (UTC). */
export function monthRange(month: Month): { since: Date; until: Date } {
  const [year, m] = month.split('-').map(Number) as [number, number]
  return { since: new Date(Date.UTC(year, m - 1, 1)), until: new Date(Date.UTC(year, m, 1)) }
}

/** The month holding an instant (UTC). */
export function monthOf(time: Date): Month {
  return time.toISOString().slice(0, 7)
}

/** The partitions of one month: `hole_punch_results_2026_11`, … */
export function monthTables(month: Month): ResultTableNames {
  const suffix = month.replace('-', '_')
  return Object.fromEntries(RESULT_TABLES.map((t) => [t, `${t}_${suffix}`])) as Record<ResultTable, string>
}

/**
 * Makes the partitions of every month from the one holding `from` to the one holding `to`,
 * unless they exist; returns how many tables it made. Replicas may call it at once (the
 * function takes a lock).
 */
export async function createResultPartitions(db: Queryable, from: string, to: string): Promise<number> {
  const [row] = await db.query<{ made: number }>(
    'SELECT create_result_partitions($1::timestamptz, $2::timestamptz) AS made',
    [from, to],
  )
  return Number(row!.made)
}

/**
 * The server's job, at its start and every hour: this month's and the next month's partitions
 * exist, so a report is never refused for want of one (the database's clock decides).
 */
export async function createPartitionsAhead(db: Queryable): Promise<number> {
  const [row] = await db.query<{ made: number }>(
    `SELECT create_result_partitions(now(), now() + interval '1 month') AS made`,
  )
  return Number(row!.made)
}

/** Where a month's partitions are: attached (live), detached (still in the database), or gone. */
export type MonthState = 'attached' | 'detached' | 'absent'

/** The state of a month; a month whose tables disagree (a detach cut short cannot be: it is one transaction) says so. */
export async function monthState(db: Queryable, month: Month): Promise<MonthState> {
  const names = Object.values(monthTables(month))
  const rows = await db.query<{ name: string; attached: boolean }>(
    `SELECT c.relname AS name, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS attached
     FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r'
       AND c.relnamespace = current_schema()::regnamespace`,
    [names],
  )
  if (rows.length === 0) return 'absent'
  const attached = rows.filter((r) => r.attached).length
  if (rows.length === names.length && attached === names.length) return 'attached'
  if (rows.length === names.length && attached === 0) return 'detached'
  throw new UserFacingError(
    `the partitions of ${month} are partly there (${rows.length} of ${names.length} tables, ${attached} attached); ` +
      'look at them with \\d+ in psql before archiving',
  )
}

/**
 * Takes a month out of the result tables, in one transaction: each partition is detached. The
 * month's rows stay in the database, in its <table>_YYYY_MM tables, until they are dropped.
 * (No foreign key points into a month from outside it: the child tables have none to their
 * result, migration 0011 says why.)
 */
export async function detachMonth(db: Database, month: Month): Promise<void> {
  const tables = monthTables(month)
  await db.transaction(async (tx) => {
    for (const parent of RESULT_TABLES)
      await tx.query(`ALTER TABLE ${parent} DETACH PARTITION ${tables[parent]}`)
  })
}

/** Drops a detached month's tables. */
export async function dropDetachedMonth(db: Database, month: Month): Promise<void> {
  await db.exec(`DROP TABLE ${Object.values(monthTables(month)).join(', ')}`)
}
