/**
 * Tears down every live lab of this process when it ends, however it ends: an exit (including
 * one after an uncaught exception or unhandled rejection, which Node reports through 'exit'),
 * or SIGINT/SIGTERM/SIGHUP, after which Node would otherwise die without any 'exit' event.
 *
 * Handlers only exist while a lab is up. When someone else also listens for a signal (the
 * `punchr lab` command, a campaign runner), that listener owns the shutdown and will call
 * `down()` itself, gracefully; the 'exit' hook still catches whatever it forgets. Alone, we
 * tear down synchronously and re-raise the signal so the process ends the way it was told to.
 */

export interface SyncTeardown {
  /** Best-effort, synchronous: exit handlers cannot wait for anything. */
  downSync(): void
}

const live = new Set<SyncTeardown>()
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

function teardownAll(): void {
  for (const lab of live) lab.downSync()
  live.clear()
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return
  teardownAll()
  uninstall()
  process.kill(process.pid, signal)
}

let installed = false

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', teardownAll)
  for (const s of SIGNALS) process.on(s, onSignal)
}

function uninstall(): void {
  if (!installed) return
  installed = false
  process.removeListener('exit', teardownAll)
  for (const s of SIGNALS) process.removeListener(s, onSignal)
}

export function registerTeardown(lab: SyncTeardown): void {
  live.add(lab)
  install()
}

export function unregisterTeardown(lab: SyncTeardown): void {
  live.delete(lab)
  if (live.size === 0) uninstall()
}
