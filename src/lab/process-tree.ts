import { readdirSync, readFileSync } from 'node:fs'

/**
 * A process and its descendants, from /proc (Linux). The lab measures a program with every
 * helper it started (a launcher, a child) and stops it as a terminal's Ctrl-C would: every
 * process of it gets the signal, not only the first.
 */

/** Live descendants of `pid`, parents before their children; [] once it is gone. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = []
  const pending = childrenOf(pid)
  for (let child = pending.shift(); child !== undefined; child = pending.shift()) {
    found.push(child)
    pending.push(...childrenOf(child))
  }
  return found
}

/** Sends `signal` to `pid` and each of its descendants (those that exit meanwhile are skipped). */
export function signalTree(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  for (const target of [pid, ...descendantsOf(pid)]) {
    try {
      process.kill(target, signal)
    } catch {
      // gone already
    }
  }
}

/** Child process ids, from every thread's children list (a child belongs to the thread that forked it). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    )
  } catch {
    return []
  }
}
