// Command-line helpers shared by the benchmark programs: a bad value ends the program with exit
// code 2 and says what was expected, followed by the program's usage.
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'

export type DbKind = 'pglite' | 'postgres'

function fail(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`)
  process.exit(2)
}

/** `text` as a positive number (fractions allowed), or `fallback` when the flag was not given. */
export function positiveNumber(
  text: string | undefined,
  fallback: number,
  name: string,
  usage: string,
): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a positive number, not ${text}`, usage)
  return n
}

/** `--db` values (repeated or comma-separated) as database kinds, `fallback` when none given. */
export function databaseKinds(values: string[] | undefined, fallback: DbKind[], usage: string): DbKind[] {
  return (values ?? fallback)
    .flatMap((d) => d.split(','))
    .map((d) => {
      if (d !== 'pglite' && d !== 'postgres') fail(`--db must be pglite or postgres, not ${d}`, usage)
      return d
    })
}

/**
 * The program's flags (its own `--<name>` among them, which bench/run.ts passes on). `--help`
 * prints the usage and exits 0; an unknown flag or a missing value says so before the usage
 * and exits 2.
 */
export function benchFlags<T extends ParseArgsOptionsConfig>(options: T, usage: string) {
  let parsed: ReturnType<typeof parseArgs<{ options: T }>>
  try {
    parsed = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }) as typeof parsed
  } catch (err) {
    fail((err as Error).message, usage)
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    console.log(usage)
    process.exit(0)
  }
  return parsed.values
}
