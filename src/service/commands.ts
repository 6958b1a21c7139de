// The punchr commands that can run as a systemd service, and what a unit of each looks like:
// its description and the flags that put its files into the unit's own folders.
import { ConfigError } from '../lib/errors.js'

export const SERVICE_COMMANDS = ['client', 'server', 'honeypot', 'up'] as const
export type ServiceCommand = (typeof SERVICE_COMMANDS)[number]

export function parseServiceCommand(word: string | undefined): ServiceCommand {
  if (word !== undefined && (SERVICE_COMMANDS as readonly string[]).includes(word))
    return word as ServiceCommand
  throw new ConfigError(
    `${word === undefined ? 'no command given' : `'${word}' cannot run as a service`}: name one of ${SERVICE_COMMANDS.join(', ')}`,
  )
}

export const DESCRIPTIONS: Record<ServiceCommand, string> = {
  client: 'punchr client: measures libp2p hole punching (DCUtR) and reports to a punchr server',
  server: 'punchr server: gRPC API and dashboard of the hole punching measurement',
  honeypot: 'punchr honeypot: DHT server recording NATed DCUtR-capable peers',
  up: 'punchr up: punchr server and honeypot in one process',
}

/** The unit name a command gets unless --name says otherwise. */
export function defaultUnitName(command: ServiceCommand): string {
  return `punchr-${command}.service`
}

/**
 * `name`, with `.service` added when missing. Template units (`@`) and anything that is not a
 * plain unit name are refused: the name becomes a file name and a folder name.
 */
export function normaliseUnitName(name: string): string {
  const full = name.endsWith('.service') ? name : `${name}.service`
  if (!/^[A-Za-z0-9:_.-]+\.service$/.test(full) || full === '.service' || full.startsWith('.'))
    throw new ConfigError(
      `invalid unit name '${name}': letters, digits and : _ . - only (e.g. punchr-client or punchr-client.service)`,
    )
  return full
}

/**
 * The unit's own folder below punchr's state folder: the unit name without `.service`
 * (`punchr-up.service` → `punchr-up`). One name, one folder: distinct units never share a
 * database, which PGlite allows one process only.
 */
export function unitFolderName(unitName: string): string {
  return unitName.slice(0, -'.service'.length)
}
