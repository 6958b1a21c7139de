// `punchr archive`: a past month of results out of the database, into Parquet files.
import { archiveMonth } from '../dashboard/archive.js'
import { openDatabase } from '../db/database.js'
import { databaseFlags } from '../db/database-flags.js'
import { migrate } from '../db/migrate.js'
import { parseMonth } from '../db/partitions.js'
import { ConfigError } from '../lib/errors.js'
import { boolFlag, optionalStringFlag, parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import type { Command } from './main.js'

const archiveFlags = {
  month: optionalStringFlag('month', 'The UTC month to archive, YYYY-MM (a month that is over)', {
    parse: (raw, fail) => {
      try {
        return parseMonth(raw.trim())
      } catch (err) {
        return fail((err as Error).message)
      }
    },
  }),
  out: stringFlag(
    'out',
    'Folder to write <month>/results.parquet, attempts.parquet, latencies.parquet in',
    '',
  ),
  keepTables: boolFlag(
    'keep-tables',
    "Leave the month's detached tables (<table>_YYYY_MM) in the database after writing",
    false,
  ),
  ...databaseFlags,
}

export const runArchive: Command = async (argv, env) => {
  const { values, help } = parseFlags('archive', archiveFlags, argv, env)
  if (help) {
    process.stdout.write(
      renderHelp(
        'archive',
        'punchr archive --month YYYY-MM --out DIR [--keep-tables]\n' +
          "       (detaches the month's partitions, writes them as Parquet, checks the row counts, drops them;\n" +
          '        with the embedded database, stop punchr first: PGlite is single-process)',
        archiveFlags,
      ),
    )
    return 0
  }
  const month = values.month
  if (month === undefined) throw new ConfigError('archive needs --month YYYY-MM')
  if (values.out.trim() === '') throw new ConfigError('archive needs --out <folder>')
  const db = await openDatabase(values)
  try {
    await migrate(db)
    const archived = await archiveMonth(db, month, { out: values.out, keepTables: values.keepTables })
    for (const f of archived.files) process.stdout.write(`${f.table}\t${f.rows} rows\t${f.file}\n`)
    process.stdout.write(
      archived.dropped
        ? `${month} archived: its partitions are dropped from the database\n`
        : `${month} archived: its detached tables are still in the database (--keep-tables)\n`,
    )
  } finally {
    await db.close()
  }
  return 0
}
