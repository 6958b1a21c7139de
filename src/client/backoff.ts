// Exponential backoff with jitter, and a sleep that a signal can cut short. Jitter spreads the
// retries of many clients after a server outage, so that they do not all come back at once.

export interface BackoffOptions {
  /** The first wait, ms. */
  initial: number
  /** The longest wait, ms. */
  max: number
  /** Growth per failure. @default 2 */
  factor?: number
}

/**
 * The wait before retry number `failures` (1 = after the first failure): initial · factor^(n-1),
 * capped at `max`, then "equal jitter": a uniform pick from its upper half, so waits still grow
 * while no two clients keep the same rhythm. `random` is in [0, 1).
 */
export function backoffDelay(
  failures: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const factor = options.factor ?? 2
  const exp = Math.min(options.max, options.initial * factor ** Math.max(0, failures - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

/**
 * A backoff wait that another part of the client can end early: whoever learns that the
 * server answers again (a call that went through) calls cut(), and the wait after a failed
 * call to that server ends at once instead of running out a delay grown during an outage.
 */
export class CuttableWait {
  private current: AbortController | undefined

  constructor(private readonly sleep: Sleep) {}

  /** Sleeps `ms`, until `signal` aborts or cut() is called; true when cut() ended it. */
  async wait(ms: number, signal: AbortSignal): Promise<boolean> {
    const cut = new AbortController()
    this.current = cut
    try {
      await this.sleep(ms, AbortSignal.any([signal, cut.signal]))
    } finally {
      if (this.current === cut) this.current = undefined
    }
    return cut.signal.aborted
  }

  /** Ends the wait in progress, if any; a wait that starts later is not affected. */
  cut(): void {
    this.current?.abort()
  }
}
