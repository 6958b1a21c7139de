// js-libp2p logs through `debug` unless it is given a ComponentLogger. The lab's peers give it
// this one, which writes to pino on stderr (one JSON line per message), because stock
// @libp2p/dcutr emits no events and no metrics: its log lines are all a remote can tell about
// its hole punches (docs/PROTOCOL.md, "js-libp2p behaviours the code works around").
import { inspect } from 'node:util'
import type { ComponentLogger, Logger as Libp2pLogger } from '@libp2p/interface'
import type { Logger } from '../../lib/logger.js'

type Level = 'trace' | 'debug' | 'info' | 'warn'

/**
 * A ComponentLogger writing to `log`. Components whose name starts with one of `infoPrefixes`
 * log at info (their errors at warn); every other component at debug (errors included: libp2p
 * logs routine failures such as reset streams as errors) and trace.
 */
export function pinoComponentLogger(log: Logger, infoPrefixes: readonly string[] = []): ComponentLogger {
  return {
    forComponent: (name) =>
      componentLogger(
        log,
        name,
        infoPrefixes.some((p) => name.startsWith(p)),
      ),
  }
}

function componentLogger(log: Logger, name: string, loud: boolean): Libp2pLogger {
  const child = log.child({ libp2p: name })
  const at =
    (level: Level) =>
    (formatter: unknown, ...args: unknown[]): void => {
      // libp2p calls its loggers on hot paths; formatting only what pino will write keeps that cheap.
      if (child.isLevelEnabled(level)) child[level](format(formatter, args))
    }
  const logger = at(loud ? 'info' : 'debug') as Libp2pLogger
  logger.error = at(loud ? 'warn' : 'debug')
  logger.trace = at('trace')
  logger.enabled = child.isLevelEnabled(loud ? 'info' : 'debug')
  logger.newScope = (scope) => componentLogger(log, `${name}:${scope}`, loud)
  return logger
}

/** `debug`-style formatting: %p peer, %a multiaddr, %e error, %o/%O object, %s/%d/%c, %%. */
export function format(formatter: unknown, args: readonly unknown[]): string {
  if (typeof formatter !== 'string') return [formatter, ...args].map(show).join(' ')
  let i = 0
  const text = formatter.replace(/%([a-zA-Z%])/g, (match, code: string) => {
    if (code === '%') return '%'
    if (i >= args.length) return match
    const arg = args[i++]
    if (code === 'e') return arg instanceof Error ? `${arg.name}: ${arg.message}` : show(arg)
    if (code === 'd') return String(Number(arg))
    return show(arg)
  })
  const rest = args.slice(i).map(show)
  return rest.length === 0 ? text : `${text} ${rest.join(' ')}`
}

/** Strings as they are, objects with their own toString (PeerId, Multiaddr) through it, the rest inspected. */
function show(value: unknown): string {
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`
  if (value instanceof Error) return `${value.name}: ${value.message}`
  if (value !== null && typeof value === 'object' && value.toString !== Object.prototype.toString) {
    return String(value)
  }
  return inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY })
}
