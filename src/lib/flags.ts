import { ConfigError } from './errors.js'

/**
 * Command-line flags. Every flag also reads an environment variable
 * `PUNCHR_<COMMAND>_<FLAG>` (docs/CONFIG.md), e.g. `--http-port` of `punchr server` reads
 * `PUNCHR_SERVER_HTTP_PORT`. Precedence: command line, then environment, then default.
 * Parsing never touches `process.env` itself: callers pass the environment in, so tests
 * build configurations from literals.
 */
export interface FlagSpec<T> {
  /** kebab-case name without dashes, e.g. `http-port`. */
  name: string
  description: string
  /** Heading under which `--help` lists the flag. */
  group?: string
  default: T
  /** Extra environment variables read after the PUNCHR_ one, e.g. DATABASE_URL. */
  aliasEnv?: string[]
  /** Converts the raw text; throws ConfigError-worthy messages via `fail`. */
  parse(raw: string, fail: (reason: string) => never): T
  /** Boolean flags take no value on the command line (`--tls`, `--no-tls`). */
  boolean?: boolean
  /** Secret values are never echoed back in errors or help. */
  secret?: boolean
}

export type FlagSpecs = Record<string, FlagSpec<unknown>>
export type FlagValues<S extends FlagSpecs> = { [K in keyof S]: S[K] extends FlagSpec<infer T> ? T : never }

export function envName(command: string, flag: string): string {
  return `PUNCHR_${command}_${flag}`.toUpperCase().replace(/[^A-Z0-9]+/g, '_')
}

export interface ParsedFlags<S extends FlagSpecs> {
  values: FlagValues<S>
  positionals: string[]
  help: boolean
}

/** Parses argv (without the command words) against the specs. Throws ConfigError. */
export function parseFlags<S extends FlagSpecs>(
  command: string,
  specs: S,
  argv: readonly string[],
  env: Record<string, string | undefined>,
): ParsedFlags<S> {
  const byName = new Map(Object.entries(specs).map(([key, spec]) => [spec.name, { key, spec }]))
  const raw = new Map<string, string>()
  const positionals: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      help = true
      continue
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1)
    let entry = byName.get(name)
    if (entry === undefined && name.startsWith('no-') && byName.get(name.slice(3))?.spec.boolean === true) {
      name = name.slice(3)
      entry = byName.get(name)
      value = 'false'
    }
    if (entry === undefined)
      throw new ConfigError(`unknown flag --${name} for 'punchr ${command}' (see 'punchr ${command} --help')`)
    if (value === undefined) {
      if (entry.spec.boolean === true) value = 'true'
      else {
        value = argv[++i]
        if (value === undefined) throw new ConfigError(`flag --${name} needs a value`)
      }
    }
    raw.set(name, value)
  }
  const values: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(specs)) {
    const envVars = [envName(command, spec.name), ...(spec.aliasEnv ?? [])]
    let source = `--${spec.name}`
    let text = raw.get(spec.name)
    if (text === undefined) {
      for (const v of envVars) {
        const fromEnv = env[v]
        if (fromEnv !== undefined && fromEnv !== '') {
          text = fromEnv
          source = v
          break
        }
      }
    }
    if (text === undefined) {
      values[key] = spec.default
      continue
    }
    const shown = spec.secret === true ? '***' : JSON.stringify(text)
    const fail = (reason: string): never => {
      throw new ConfigError(`invalid value ${shown} for ${source}: ${reason}`)
    }
    values[key] = spec.parse(text, fail)
  }
  return { values: values as FlagValues<S>, positionals, help }
}

/** Renders `--help` text with flags grouped, each with its environment variable and default. */
export function renderHelp(command: string, usage: string, specs: FlagSpecs): string {
  const groups = new Map<string, FlagSpec<unknown>[]>()
  for (const spec of Object.values(specs)) {
    const group = spec.group ?? 'Options'
    groups.set(group, [...(groups.get(group) ?? []), spec])
  }
  const lines = [`Usage: ${usage}`, '']
  for (const [group, list] of groups) {
    lines.push(`${group}:`)
    for (const spec of list) {
      const shownDefault =
        spec.secret === true || spec.default === undefined || spec.default === ''
          ? ''
          : ` (default: ${String(spec.default)})`
      lines.push(`  --${spec.name}${spec.boolean === true ? '' : ' <value>'}`)
      lines.push(`      ${spec.description}${shownDefault}`)
      lines.push(`      env: ${[envName(command, spec.name), ...(spec.aliasEnv ?? [])].join(', ')}`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

// Flag constructors for the common value types.

export function stringFlag(
  name: string,
  description: string,
  defaultValue: string,
  extra: Partial<FlagSpec<string>> = {},
): FlagSpec<string> {
  return { name, description, default: defaultValue, parse: (raw) => raw, ...extra }
}

export function optionalStringFlag(
  name: string,
  description: string,
  extra: Partial<FlagSpec<string | undefined>> = {},
): FlagSpec<string | undefined> {
  return { name, description, default: undefined, parse: (raw) => raw, ...extra }
}

export function intFlag(
  name: string,
  description: string,
  defaultValue: number,
  min: number,
  max: number,
  extra: Partial<FlagSpec<number>> = {},
): FlagSpec<number> {
  return {
    name,
    description,
    default: defaultValue,
    parse: (raw, fail) => {
      if (!/^-?\d+$/.test(raw.trim())) fail('not a whole number')
      const n = Number(raw)
      if (n < min || n > max) fail(`must be between ${min} and ${max}`)
      return n
    },
    ...extra,
  }
}

export function portFlag(
  name: string,
  description: string,
  defaultValue: number,
  extra: Partial<FlagSpec<number>> = {},
): FlagSpec<number> {
  return intFlag(name, description, defaultValue, 0, 65535, extra)
}

export function boolFlag(
  name: string,
  description: string,
  defaultValue: boolean,
  extra: Partial<FlagSpec<boolean>> = {},
): FlagSpec<boolean> {
  return {
    name,
    description,
    default: defaultValue,
    boolean: true,
    parse: (raw, fail) => {
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off'].includes(v)) return false
      return fail('expected true or false')
    },
    ...extra,
  }
}
