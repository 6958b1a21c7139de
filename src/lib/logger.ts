import { type Logger, pino } from 'pino'

export type { Logger } from 'pino'

/**
 * The process-wide root logger. Logs are JSON lines on stderr so that stdout stays free for
 * command output (`punchr keys add` prints the key alone on stdout).
 */
const root: Logger = pino(
  {
    level: process.env.PUNCHR_LOG_LEVEL ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ fd: 2, sync: true }),
)

/** A named logger for one component, e.g. `logger('server')`. */
export function logger(component: string): Logger {
  return root.child({ component })
}
