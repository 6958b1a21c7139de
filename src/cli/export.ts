// `punchr export`: the research dataset (results, attempts, latencies, peers) as CSV or Parquet files.
import { exportDataset } from '../dashboard/export.js'
import { withReadDatabase } from '../dashboard/read-database.js'
import { parseTimeRange } from '../dashboard/time-range.js'
import { databaseFlags } from '../db/database-flags.js'
import { ConfigError } from '../lib/errors.js'
import { parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import type { Command } from './main.js'
import { formatFlag, rangeFlags } from './report.js'

const exportFlags = {
  ...rangeFlags,
  since: { ...rangeFlags.since, description: 'Only results stored from then on (default: all)' },
  format: formatFlag('File format', ['csv', 'parquet'] as const, 'parquet'),
  out: stringFlag(
    'out',
    'Folder to write results.<format>, attempts.<format>, latencies.<format>, peers.<format> to',
    '',
  ),
  ...databaseFlags,
}

/** Without --since the export covers everything stored. */
const BEGINNING = '1970-01-01'

export const runExport: Command = async (argv, env) => {
  const { values, help } = parseFlags('export', exportFlags, argv, env)
  if (help) {
    process.stdout.write(
      renderHelp(
        'export',
        'punchr export --out DIR [--format csv|parquet] [--since …] [--until …]\n' +
          '       (with the embedded database, stop punchr up first: PGlite is single-process)',
        exportFlags,
      ),
    )
    return 0
  }
  if (values.out.trim() === '') throw new ConfigError('export needs --out <folder>')
  const range = parseTimeRange(values.since ?? BEGINNING, values.until)
  const files = await withReadDatabase(values, 'export', (db) =>
    exportDataset(db, range, values.format, values.out),
  )
  for (const f of files) process.stdout.write(`${f.table}\t${f.rows} rows\t${f.file}\n`)
  return 0
}
