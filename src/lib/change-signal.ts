/**
 * Lets one waiter sleep until something changes (data arrived, the stream ended), or until
 * its abort signal fires. The producer calls `notify()` on every change; the waiter calls
 * `wait(signal)` in a loop and re-checks its condition after each wake-up.
 */
export class ChangeSignal {
  private wake: (() => void) | undefined

  notify(): void {
    this.wake?.()
  }

  wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.wake = undefined
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.wake = () => {
        signal.removeEventListener('abort', onAbort)
        this.wake = undefined
        resolve()
      }
    })
  }
}
