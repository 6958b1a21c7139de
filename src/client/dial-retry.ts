// Dials that a peer reset because of its inbound rate limit, tried again (client.ts staggers
// its hosts' bootstraps for the same reason).
import { BOOTSTRAP_DIAL_TRIES, BOOTSTRAP_RETRY_PAUSE_MS } from './constants.js'

/**
 * Runs `dial` again when the peer reset the connection, up to BOOTSTRAP_DIAL_TRIES times
 * BOOTSTRAP_RETRY_PAUSE_MS apart: a busy js-libp2p peer resets connections from an address over
 * its per-second threshold, which a moment later it takes.
 */
export async function retryResets<T>(
  dial: () => Promise<T>,
  onReset: () => void,
  signal?: AbortSignal,
  pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await dial()
    } catch (err) {
      if (tries >= BOOTSTRAP_DIAL_TRIES || !isReset(err) || signal?.aborted === true) throw err
      onReset()
      await pause(BOOTSTRAP_RETRY_PAUSE_MS)
    }
  }
}

/** A connection the other side reset (ECONNRESET), anywhere in the error's cause chain. */
export function isReset(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || e.message.includes('ECONNRESET')) return true
    if (e instanceof AggregateError && e.errors.some(isReset)) return true
  }
  return false
}
