// Where the client keeps its files (XDG Base Directory spec): identities and the API key are
// configuration, the report queue is state. Everything takes the environment as an argument so
// that tests never touch process.env.
import { homedir } from 'node:os'
import { join } from 'node:path'

type Env = Record<string, string | undefined>

/** `$XDG_CONFIG_HOME/punchr`, by default `~/.config/punchr`. */
export function configDir(env: Env): string {
  return join(nonEmpty(env.XDG_CONFIG_HOME) ?? join(home(env), '.config'), 'punchr')
}

/** `$XDG_STATE_HOME/punchr`, by default `~/.local/state/punchr`. */
export function stateDir(env: Env): string {
  return join(nonEmpty(env.XDG_STATE_HOME) ?? join(home(env), '.local', 'state'), 'punchr')
}

/** The host identities (`$XDG_CONFIG_HOME/punchr/client.keys`, docs/PROTOCOL.md, "Processes, ports and files"). */
export function defaultKeyFile(env: Env): string {
  return join(configDir(env), 'client.keys')
}

/** The API key, read when neither `--api-key` nor PUNCHR_CLIENT_API_KEY is given. */
export function defaultApiKeyFile(env: Env): string {
  return join(configDir(env), 'api.key')
}

/** The on-disk report queue. */
export function defaultQueueDir(env: Env): string {
  return join(stateDir(env), 'reports')
}

function home(env: Env): string {
  return nonEmpty(env.HOME) ?? homedir()
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
