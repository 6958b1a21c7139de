import { ConfigError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { loadQuicTransport } from '../quic/availability.js'
import type { PunchTransport } from './punch-addrs.js'

/**
 * The transports asked for that can run on this machine. QUIC needs a native module that is not
 * built for every platform (src/quic/availability.ts): without it the client measures TCP and
 * says so, since TCP rounds are still measurements. Asked for QUIC alone, it cannot measure at
 * all, which is the user's to fix.
 */
export async function usableTransports(
  wanted: readonly PunchTransport[],
  log: Logger | undefined,
): Promise<readonly PunchTransport[]> {
  if (!wanted.includes('quic')) return wanted
  const quic = await loadQuicTransport()
  if (!(quic instanceof Error)) return wanted
  const rest = wanted.filter((t) => t !== 'quic')
  if (rest.length === 0)
    throw new ConfigError(`${quic.message}; measure with --transports tcp on this machine`)
  log?.warn({ err: quic.message }, `measuring ${rest.join(', ')} only: QUIC cannot run on this machine`)
  return rest
}
