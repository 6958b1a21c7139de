// `punchr archive`: one past month of results leaves the database as Parquet files
// (docs/ARCHITECTURE.md, "Monthly partitions"). Its partitions are detached first (a moment's
// lock; the live tables no longer hold the month), written from the detached tables with the
// export's columns, counted against the files, and dropped. A run cut short is taken up again
// by the next: a detached month is still in the database until its files are written.
import { join } from 'node:path'
import type { Database } from '../db/database.js'
import {
  detachMonth,
  dropDetachedMonth,
  type Month,
  monthRange,
  monthState,
  monthTables,
} from '../db/partitions.js'
import { UserFacingError } from '../lib/errors.js'
import { type ExportedFile, exportDataset } from './export.js'
import { exportTables } from './export-tables.js'

export interface ArchiveOptions {
  /** Folder the month's folder (YYYY-MM) is written in. */
  out: string
  /** Leave the detached tables in the database after writing (default: drop them). */
  keepTables?: boolean
  /** The present, for "is the month over" (tests). */
  now?: Date
}

export interface ArchivedMonth {
  month: Month
  /** Whether this run detached it (false: an earlier run or an operator had). */
  detached: boolean
  files: ExportedFile[]
  /** Whether its tables were dropped. */
  dropped: boolean
}

/** A month that cannot be archived; the message says why and what to do instead. */
export class ArchiveError extends UserFacingError {
  override readonly name = 'ArchiveError'
}

export async function archiveMonth(
  db: Database,
  month: Month,
  options: ArchiveOptions,
): Promise<ArchivedMonth> {
  const range = monthRange(month)
  const now = options.now ?? new Date()
  if (range.until > now)
    throw new ArchiveError(
      `${month} is not over yet: reports are still stored in it; archive it from ${range.until.toISOString().slice(0, 10)} on`,
    )
  const state = await monthState(db, month)
  if (state === 'absent')
    throw new ArchiveError(
      `${month} has no partitions: no results were stored in it, or it was archived before`,
    )
  if (state === 'attached') await detachMonth(db, month)

  const tables = monthTables(month)
  const scoped = exportTables(tables).filter((t) => t.scoped)
  const files = await exportDataset(db, range, 'parquet', join(options.out, month), scoped)
  await checkCounts(db, tables, files)
  if (options.keepTables !== true) await dropDetachedMonth(db, month)
  return { month, detached: state === 'attached', files, dropped: options.keepTables !== true }
}

/** The files hold every result, attempt and latency of the detached tables, or nothing is dropped. */
async function checkCounts(
  db: Database,
  tables: ReturnType<typeof monthTables>,
  files: readonly ExportedFile[],
): Promise<void> {
  const source = {
    results: tables.hole_punch_results,
    attempts: tables.hole_punch_attempts,
    latencies: tables.latency_measurements,
  }
  for (const file of files) {
    const table = source[file.table as keyof typeof source]
    if (table === undefined) continue
    const [row] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`)
    if (Number(row!.n) !== file.rows)
      throw new ArchiveError(
        `${file.file} has ${file.rows} rows but ${table} holds ${row!.n}; the month's tables are kept, detached: run archive again`,
      )
  }
}
