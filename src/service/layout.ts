// Where a unit and the files of its service live, for a system unit (run by PID 1 as a
// throw-away user) or a user unit (run by the user's own service manager). Pure: it reads only
// the environment it is given, so tests build layouts from literals.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { configDir, defaultApiKeyFile, defaultKeyFile, defaultQueueDir, stateDir } from '../client/paths.js'
import { ConfigError } from '../lib/errors.js'
import { type ServiceCommand, unitFolderName } from './commands.js'

type Env = Record<string, string | undefined>

export type Scope = 'system' | 'user'

/** Where systemd's system manager reads units an administrator installed. */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system'
/** System units keep secrets meant for the service here, readable by root only. */
export const SYSTEM_CONFIG_DIR = '/etc/punchr'
/** StateDirectory= of system units is relative to this. */
export const SYSTEM_STATE_ROOT = '/var/lib'
/** The credential name a system client unit reads its API key under ($CREDENTIALS_DIRECTORY/…). */
export const API_KEY_CREDENTIAL = 'api-key'

export interface ClientFiles {
  /** The API key file on the host: read by the client itself (user) or by systemd (system). */
  apiKeySource: string
  /** Host identities (written by the client on its first start). */
  keyFile: string
  /** Reports waiting for the server. */
  queueDir: string
}

export interface ServiceLayout {
  scope: Scope
  unitName: string
  /** The folder the unit file goes to. */
  unitDir: string
  /** The unit's own state folder as the service sees it: its working directory and data. */
  stateDir: string
  /** StateDirectory= (system units): systemd creates it for the throw-away user. */
  stateDirectory: string | undefined
  /** Folders the service writes besides its StateDirectory= (user units). */
  writablePaths: string[]
  /** Optional environment file for secrets such as DATABASE_URL (EnvironmentFile=-…). */
  envFile: string
  client: ClientFiles | undefined
}

export interface LayoutOptions {
  scope: Scope
  command: ServiceCommand
  unitName: string
  /** Overrides the unit folder (tests, packaging). */
  unitDir?: string
  /** Overrides where a client unit's API key comes from. */
  apiKeyFile?: string
}

export function serviceLayout(options: LayoutOptions, env: Env): ServiceLayout {
  const layout = options.scope === 'system' ? systemLayout(options) : userLayout(options, env)
  for (const path of [layout.unitDir, layout.stateDir, layout.envFile, ...layout.writablePaths])
    absolute(path, 'a service folder (from $HOME, $XDG_CONFIG_HOME, $XDG_STATE_HOME or --unit-dir)')
  return layout
}

function systemLayout({ command, unitName, unitDir, apiKeyFile }: LayoutOptions): ServiceLayout {
  const stateDirectory = `punchr/${unitFolderName(unitName)}`
  const own = join(SYSTEM_STATE_ROOT, stateDirectory)
  return {
    scope: 'system',
    unitName,
    unitDir: nonEmpty(unitDir) ?? SYSTEM_UNIT_DIR,
    stateDir: own,
    stateDirectory,
    // StateDirectory= is writable by itself; nothing else is.
    writablePaths: [],
    envFile: join(SYSTEM_CONFIG_DIR, `${unitFolderName(unitName)}.env`),
    client:
      command === 'client'
        ? {
            apiKeySource: absolute(
              nonEmpty(apiKeyFile) ?? join(SYSTEM_CONFIG_DIR, 'api.key'),
              '--api-key-file',
            ),
            keyFile: join(own, 'client.keys'),
            queueDir: join(own, 'reports'),
          }
        : undefined,
  }
}

function userLayout({ command, unitName, unitDir, apiKeyFile }: LayoutOptions, env: Env): ServiceLayout {
  const base = {
    scope: 'user' as const,
    unitName,
    unitDir: nonEmpty(unitDir) ?? userUnitDir(env),
    stateDirectory: undefined,
    envFile: join(configDir(env), `${unitFolderName(unitName)}.env`),
  }
  if (command === 'client') {
    // The same files an interactive `punchr client` uses: `punchr login` stores the key where
    // the unit reads it, and the volunteer's hosts keep their identities.
    return {
      ...base,
      stateDir: stateDir(env),
      writablePaths: [configDir(env), stateDir(env)],
      client: {
        apiKeySource: absolute(nonEmpty(apiKeyFile) ?? defaultApiKeyFile(env), '--api-key-file'),
        keyFile: defaultKeyFile(env),
        queueDir: defaultQueueDir(env),
      },
    }
  }
  const own = join(stateDir(env), unitFolderName(unitName))
  return { ...base, stateDir: own, writablePaths: [own], client: undefined }
}

/** `$XDG_CONFIG_HOME/systemd/user`, by default `~/.config/systemd/user`. */
export function userUnitDir(env: Env): string {
  const config = nonEmpty(env.XDG_CONFIG_HOME) ?? join(nonEmpty(env.HOME) ?? homedir(), '.config')
  return join(config, 'systemd', 'user')
}

function absolute(path: string, what: string): string {
  if (!path.startsWith('/'))
    throw new ConfigError(`${what} must be an absolute path for a service, not '${path}'`)
  return path
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
