import { optionalStringFlag, stringFlag } from '../lib/flags.js'

/** The database selection flags every database-using command shares. */
export const databaseFlags = {
  dataDir: stringFlag(
    'data-dir',
    'Embedded PGlite database folder (used when DATABASE_URL is unset)',
    './punchr-data',
    { group: 'Database' },
  ),
  databaseUrl: optionalStringFlag(
    'database-url',
    'PostgreSQL URL (postgres://…); switches from PGlite to PostgreSQL',
    {
      group: 'Database',
      aliasEnv: ['DATABASE_URL'],
      secret: true,
    },
  ),
}
