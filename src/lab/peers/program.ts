// The frame of every lab peer program, after the hole-punch-interop convention: the program's
// result or ready line is ONE JSON line on stdout, its logs are pino JSON lines on stderr, so a
// parent reads stdout line by line and never has to tell logs from results. SIGTERM and SIGINT
// (what `LabNetwork.down()` sends) abort `signal`, run the cleanups and exit 0; an error prints
// `{"error": …}` and exits 1.
import { parseArgs } from 'node:util'
import { type Logger, logger } from '../../lib/logger.js'

export interface ProgramContext {
  log: Logger
  /** Aborted by SIGTERM or SIGINT. */
  signal: AbortSignal
  /** Runs at exit, last registered first (e.g. `node.stop()`). */
  onCleanup(cleanup: () => Promise<void> | void): void
}

/** Cleanups that hang (a libp2p stop waiting for a dead peer) must not keep the process alive. */
const CLEANUP_TIMEOUT_MS = 2_000

/** Writes `value` as one JSON line on stdout; bigints become strings. */
export function printLine(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  )
}

/** Runs `main` as the whole program; see the file comment. */
export function runProgram(name: string, main: (ctx: ProgramContext) => Promise<void>): void {
  const log = logger(name)
  const controller = new AbortController()
  const cleanups: (() => Promise<void> | void)[] = []
  let exiting = false

  const exit = async (code: number): Promise<void> => {
    if (exiting) return
    exiting = true
    const timer = setTimeout(() => {
      log.warn('cleanup timed out')
      process.exit(code)
    }, CLEANUP_TIMEOUT_MS)
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        log.warn({ err }, 'cleanup failed')
      }
    }
    clearTimeout(timer)
    process.exit(code)
  }

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      // A second signal means the first one's cleanup is not wanted any more.
      if (controller.signal.aborted) process.exit(1)
      log.info({ signal: sig }, 'stopping')
      controller.abort(new Error(`received ${sig}`))
    })
  }

  main({ log, signal: controller.signal, onCleanup: (c) => cleanups.push(c) }).then(
    () => exit(0),
    (err: unknown) => {
      log.error({ err }, `${name} failed`)
      printLine({ error: err instanceof Error ? err.message : String(err) })
      return exit(1)
    },
  )
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** A usage error: what is wrong, and how the program is called. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean }

/** `parseArgs` of node:util, strict, with errors that carry the usage line. */
export function parseOptions<T extends Record<string, OptionSpec>>(
  usage: string,
  options: T,
  argv = process.argv.slice(2),
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\nusage: ${usage}`)
  }
}

/** The option's value, or a usage error when it is missing. */
export function required<V>(value: V | undefined, name: string, usage: string): V {
  if (value === undefined) throw new UsageError(`--${name} is required\nusage: ${usage}`)
  return value
}

/** An integer option in [min, max], `fallback` when absent. */
export function intOption(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return n
}
