// `punchr export`: every table of EXPORT_TABLES to one file in the chosen format, streamed
// batch by batch from the database to the file.
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileWriter, parquetWriteRows, type SchemaElement } from 'hyparquet-writer'
import type { Queryable } from '../db/database.js'
import { csvRow } from './csv.js'
import {
  type ColumnType,
  EXPORT_TABLES,
  type ExportRow,
  type ExportTable,
  exportRows,
  microsToIso,
} from './export-tables.js'
import type { ResultScope } from './queries/scope.js'

export type ExportFormat = 'csv' | 'parquet'

/** Rows per database batch and per Parquet row group: a few MB in memory at most. */
const BATCH_ROWS = 10_000

export interface ExportedFile {
  table: string
  file: string
  rows: number
}

/** Writes `tables` (results, attempts, latencies and peers unless told) into `dir` (created if missing). */
export async function exportDataset(
  db: Queryable,
  scope: ResultScope,
  format: ExportFormat,
  dir: string,
  tables: readonly ExportTable[] = EXPORT_TABLES,
): Promise<ExportedFile[]> {
  await mkdir(dir, { recursive: true })
  const files: ExportedFile[] = []
  for (const table of tables) {
    const file = join(dir, `${table.name}.${format}`)
    const rows = counted(exportRows(db, table, scope, BATCH_ROWS))
    await (format === 'csv' ? writeCsv(file, table, rows) : writeParquet(file, table, rows))
    files.push({ table: table.name, file, rows: rows.count() })
  }
  return files
}

function counted(rows: AsyncGenerator<ExportRow>): AsyncIterable<ExportRow> & { count(): number } {
  let n = 0
  return {
    async *[Symbol.asyncIterator]() {
      for await (const row of rows) {
        n++
        yield row
      }
    },
    count: () => n,
  }
}

/**
 * CSV: timestamps as ISO 8601 with microseconds (UTC), json columns as JSON text, string lists
 * joined by ';' (an empty list is an empty text, `""`).
 */
async function writeCsv(file: string, table: ExportTable, rows: AsyncIterable<ExportRow>): Promise<void> {
  const out = createWriteStream(file)
  const failed = once(out, 'error').then(([err]) => {
    throw err
  })
  const write = async (line: string) => {
    if (!out.write(line)) await Promise.race([once(out, 'drain'), failed])
  }
  await write(csvRow(table.columns.map((c) => c.name)))
  for await (const row of rows) {
    await write(
      csvRow(
        table.columns.map((c) => {
          const v = row[c.name]
          if (v === null) return null
          if (c.type === 'timestamp') return microsToIso(v as bigint)
          if (c.type === 'string-list') return (v as string[]).join(';')
          return c.type === 'json' ? JSON.stringify(v) : v
        }),
      ),
    )
  }
  out.end()
  await Promise.race([once(out, 'finish'), failed])
}

const PARQUET_TYPES: Record<Exclude<ColumnType, 'string-list'>, Omit<SchemaElement, 'name'>> = {
  int64: { type: 'INT64' },
  int32: { type: 'INT32' },
  float64: { type: 'DOUBLE' },
  bool: { type: 'BOOLEAN' },
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  json: { type: 'BYTE_ARRAY', converted_type: 'JSON' },
  timestamp: {
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
  },
}

/**
 * The schema elements of a column. A string list is the standard three-level LIST (an
 * optional group, its repeated `list`, a required UTF-8 `element`), which pandas, pyarrow
 * and DuckDB read as a list of strings.
 */
function parquetColumn(name: string, type: ColumnType): SchemaElement[] {
  if (type !== 'string-list') return [{ name, repetition_type: 'OPTIONAL', ...PARQUET_TYPES[type] }]
  return [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'REQUIRED', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  ]
}

/**
 * Parquet (Snappy): one row group per batch; timestamps are UTC microseconds, json columns
 * JSON, string lists lists.
 */
async function writeParquet(file: string, table: ExportTable, rows: AsyncIterable<ExportRow>): Promise<void> {
  const schema: SchemaElement[] = [
    { name: 'root', num_children: table.columns.length },
    ...table.columns.flatMap((c) => parquetColumn(c.name, c.type)),
  ]
  await parquetWriteRows({
    writer: fileWriter(file),
    rows,
    columns: table.columns.map((c) => ({ name: c.name })),
    schema,
    rowGroupSize: BATCH_ROWS,
  })
}
