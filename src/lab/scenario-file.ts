import { existsSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../lib/errors.js'
import { type Scenario, ScenarioError, validateScenario } from './scenario.js'

/**
 * The scenarios shipped with punchr, in src/lab/scenarios/. tsc does not copy JSON to dist/, so
 * compiled code (dist/src/lab/) looks in the source tree; code run from src/ finds them next door.
 */
export const SHIPPED_SCENARIOS_DIR =
  [new URL('./scenarios/', import.meta.url), new URL('../../../src/lab/scenarios/', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(dir)) ?? fileURLToPath(new URL('./scenarios/', import.meta.url))

/** Names of the shipped scenarios, e.g. `cone-cone`. */
export function shippedScenarios(): string[] {
  if (!existsSync(SHIPPED_SCENARIOS_DIR)) return []
  return readdirSync(SHIPPED_SCENARIOS_DIR)
    .filter((f) => /\.(json|ya?ml)$/.test(f))
    .map((f) => f.replace(/\.(json|ya?ml)$/, ''))
    .sort()
}

/** A path to a scenario file, or the name of a shipped one (`cone-cone`). */
export function resolveScenarioPath(pathOrName: string): string {
  if (existsSync(pathOrName)) return pathOrName
  if (/^[a-z0-9-]+$/.test(pathOrName)) {
    for (const ext of ['.json', '.yaml', '.yml']) {
      const shipped = `${SHIPPED_SCENARIOS_DIR}${pathOrName}${ext}`
      if (existsSync(shipped)) return shipped
    }
  }
  throw new ConfigError(
    `no scenario file ${pathOrName}; give a path or one of the shipped scenarios: ${shippedScenarios().join(', ')}`,
  )
}

/** Reads, parses (JSON, or YAML by extension) and validates a scenario file or shipped name. */
export async function loadScenario(pathOrName: string): Promise<Scenario> {
  const path = resolveScenarioPath(pathOrName)
  const text = await readFile(path, 'utf8')
  const format = /\.ya?ml$/i.test(extname(path)) ? 'yaml' : 'json'
  return validateScenario(await parseScenarioText(text, format, basename(path)), basename(path))
}

/** Parses the text of a scenario; a syntax error becomes a ScenarioError for the whole document. */
export async function parseScenarioText(
  text: string,
  format: 'json' | 'yaml',
  source: string,
): Promise<unknown> {
  if (format === 'json') {
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new ScenarioError(source, [{ path: '', reason: `not valid JSON: ${(err as Error).message}` }])
    }
  }
  const yaml = await loadYamlModule()
  try {
    return yaml.parse(text)
  } catch (err) {
    throw new ScenarioError(source, [{ path: '', reason: `not valid YAML: ${(err as Error).message}` }])
  }
}

interface YamlModule {
  parse(text: string): unknown
}

/**
 * The `yaml` package is optional: JSON scenarios need nothing, YAML ones need it installed. The
 * module name sits in a variable so that TypeScript does not require it at build time.
 */
async function loadYamlModule(): Promise<YamlModule> {
  const name = 'yaml'
  try {
    return (await import(name)) as YamlModule
  } catch {
    throw new ConfigError(
      "reading a YAML scenario needs the 'yaml' package, which is not installed (npm install yaml); or write the scenario as JSON",
    )
  }
}
