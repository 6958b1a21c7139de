// Command-line helpers shared by the benchmark programs: a bad value ends the program with exit
// code 2 and says what was expected, followed by the program's usage.

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
