import { addApiKey, listApiKeys, revokeApiKey } from '../db/authorizations.js'
import { type Database, openDatabase } from '../db/database.js'
import { databaseFlags } from '../db/database-flags.js'
import { migrate } from '../db/migrate.js'
import { ConfigError } from '../lib/errors.js'
import { parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import type { Command } from './main.js'

const keysFlags = {
  user: stringFlag('user', 'Who the new key is for (keys add)', ''),
  ...databaseFlags,
}

const USAGE = 'punchr keys add --user <name> | punchr keys list | punchr keys revoke <key or listed prefix>'

/** `punchr keys add|list|revoke`: API keys are stored hashed; `add` prints the key alone on stdout. */
export const runKeys: Command = async (argv, env) => {
  const { values, positionals, help } = parseFlags('keys', keysFlags, argv, env)
  const [action, ...args] = positionals
  if (help || action === undefined) {
    process.stdout.write(renderHelp('keys', USAGE, keysFlags))
    return help ? 0 : 2
  }
  if (!['add', 'list', 'revoke'].includes(action))
    throw new ConfigError(`unknown action '${action}'; usage: ${USAGE}`)
  if (action === 'add' && values.user.trim() === '') throw new ConfigError('keys add needs --user <name>')
  if (action === 'revoke' && args.length !== 1)
    throw new ConfigError('keys revoke needs exactly one key (or the prefix keys list shows)')
  const db = await openDatabase(values)
  try {
    await migrate(db)
    return await runAction(db, action, values.user.trim(), args[0] ?? '')
  } finally {
    await db.close()
  }
}

async function runAction(db: Database, action: string, user: string, key: string): Promise<number> {
  if (action === 'add') {
    const { key: created } = await addApiKey(db, user)
    process.stdout.write(`${created}\n`)
    return 0
  }
  if (action === 'list') {
    const keys = await listApiKeys(db)
    process.stdout.write(`${['ID', 'PREFIX', 'USER', 'CREATED', 'STATUS'].join('\t')}\n`)
    for (const k of keys) {
      const status = k.revokedAt === null ? 'active' : `revoked ${k.revokedAt.toISOString()}`
      process.stdout.write(
        `${[k.id, `${k.keyPrefix}…`, k.username, k.createdAt.toISOString(), status].join('\t')}\n`,
      )
    }
    return 0
  }
  const revoked = await revokeApiKey(db, key.replace(/…$/, ''))
  if (revoked === undefined) {
    process.stderr.write('no such key; see punchr keys list\n')
    return 1
  }
  process.stdout.write(`revoked key ${revoked.keyPrefix}… of ${revoked.username}\n`)
  return 0
}
