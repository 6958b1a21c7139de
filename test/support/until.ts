import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Polls `check` (every `pollMs`) until it holds; throws `timed out after … waiting for <what>`
 * after `timeoutMs`. The one wait-for-a-condition of the tests.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  pollMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(pollMs)
  }
}
