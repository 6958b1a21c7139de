import { openDatabase } from '../db/database.js'
import { databaseFlags } from '../db/database-flags.js'
import { migrate } from '../db/migrate.js'
import { parseFlags, renderHelp } from '../lib/flags.js'
import type { Command } from './main.js'

export const runMigrate: Command = async (argv, env) => {
  const { values, help } = parseFlags('migrate', databaseFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('migrate', 'punchr migrate [flags]', databaseFlags))
    return 0
  }
  const db = await openDatabase(values)
  try {
    const applied = await migrate(db)
    process.stdout.write(
      applied.length === 0 ? 'database is up to date\n' : `applied migrations: ${applied.join(', ')}\n`,
    )
  } finally {
    await db.close()
  }
  return 0
}
