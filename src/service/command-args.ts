// The arguments of the punchr command a unit runs: the flags the user gave after `--`, checked
// for secrets, plus the flags that put the command's files into the unit's own folders.
import { join } from 'node:path'
import { ConfigError } from '../lib/errors.js'
import { envName } from '../lib/flags.js'
import type { ServiceCommand } from './commands.js'
import type { ExecArg } from './exec-quote.js'
import { API_KEY_CREDENTIAL, type ServiceLayout } from './layout.js'

/**
 * The flags of server, honeypot and up that take a PostgreSQL URL, which may carry a password
 * (test/unit/service-unit.test.ts checks this against their flag definitions).
 */
export const DATABASE_URL_FLAGS = ['database-url', 'read-database-url'] as const

/** Whether `--name` or `--name=…` is among `args`. */
export function hasFlag(args: readonly string[], name: string): boolean {
  return args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`))
}

/** Every value given as `--name value` or `--name=value`. */
function flagValues(args: readonly string[], name: string): string[] {
  const values: string[] = []
  args.forEach((arg, i) => {
    if (arg === `--${name}` && i + 1 < args.length) values.push(args[i + 1]!)
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3))
  })
  return values
}

/**
 * Refuses flags that would put a secret into the unit file: /etc/systemd/system is readable by
 * every user, and so is a process's command line. The message says how to give it instead.
 */
export function refuseSecrets(command: ServiceCommand, args: readonly string[], layout: ServiceLayout): void {
  if (command === 'client') {
    // --save-api-key is refused for the key on the command line, and also because the client
    // would write it to its key file, which a system unit cannot (its credentials are read-only).
    for (const flag of ['api-key', 'save-api-key'])
      if (hasFlag(args, flag))
        throw new ConfigError(
          `--${flag} would put the API key into the unit file and the command line, which every user can read. ${apiKeyAdvice(layout)}`,
        )
    if (hasFlag(args, 'api-key-file'))
      throw new ConfigError(
        `give the key file to 'punchr service install' itself, before '--': punchr service install client --api-key-file <path>${layout.scope === 'system' ? ' (systemd hands it to the service with LoadCredential=)' : ''}`,
      )
    return
  }
  for (const flag of DATABASE_URL_FLAGS) {
    if (flagValues(args, flag).some(hasPassword)) {
      // The environment variable the command reads the flag from (DATABASE_URL is an alias).
      const variable = flag === 'database-url' ? 'DATABASE_URL' : envName(command, flag)
      throw new ConfigError(
        `--${flag} with a password would put it into the unit file, which every user can read: put ${variable}=postgres://… into ${layout.envFile} (mode 0600; the unit reads it with EnvironmentFile=) and leave --${flag} out`,
      )
    }
  }
}

/** How to give a client unit its API key, for the error and the install notes. */
export function apiKeyAdvice(layout: ServiceLayout): string {
  const source = layout.client?.apiKeySource ?? ''
  return layout.scope === 'user'
    ? `Store it with 'punchr login <key>' (written to ${source} with mode 0600), or put it in the file given as --api-key-file before '--'.`
    : `Put it into ${source}, owned by root with mode 0600 (sudo install -d -m 0700 ${parentOf(source)}; sudo sh -c 'umask 077; cat > ${source}' and paste it); systemd hands it to the service with LoadCredential=.`
}

/**
 * The flags the unit adds so that the command keeps its files in the unit's folders, each only
 * when the user did not give it: client identities, key and queue; the database folder of
 * server, honeypot and up; the honeypot's identity (its default is relative to the working
 * directory).
 */
export function stateFlags(
  command: ServiceCommand,
  args: readonly string[],
  layout: ServiceLayout,
): ExecArg[] {
  const added: ExecArg[] = []
  const add = (name: string, value: ExecArg) => {
    if (!hasFlag(args, name)) added.push(`--${name}`, value)
  }
  if (command === 'client') {
    const files = layout.client!
    add('key-file', files.keyFile)
    add(
      'api-key-file',
      // %d is the unit's credentials folder, where LoadCredential= put the key.
      layout.scope === 'system' ? { raw: `%d/${API_KEY_CREDENTIAL}` } : files.apiKeySource,
    )
    add('queue-dir', files.queueDir)
    return added
  }
  add('data-dir', layout.stateDir)
  if (command === 'honeypot') add('key-file', join(layout.stateDir, 'honeypot.key'))
  return added
}

function hasPassword(url: string): boolean {
  try {
    const parsed = new URL(url)
    return parsed.password !== '' || parsed.searchParams.has('password')
  } catch {
    // Not a URL punchr could use either; the command itself will say so. A user:pass@ in
    // it is still a secret.
    return /:[^/@]*@/.test(url)
  }
}

function parentOf(path: string): string {
  return path.slice(0, Math.max(1, path.lastIndexOf('/')))
}
