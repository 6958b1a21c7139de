import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** The unprivileged user tests run "another user's" processes as. */
export const NOBODY = 65534
export const SETPRIV = '/usr/bin/setpriv'

/**
 * A Node binary that the user nobody can run, or why there is none. The project's own Node
 * lives in the checkout, which nobody may not be able to enter (a clone under /root); the
 * machine's Node in /usr/bin does as well for a fetch or a socket.
 */
export function nodeForNobody(): { node: string } | { skip: string } {
  if (process.getuid?.() !== 0 || !existsSync(SETPRIV))
    return { skip: 'needs root and setpriv to run a process as nobody' }
  for (const node of [process.execPath, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(node)) continue
    const probe = spawnSync(SETPRIV, [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      node,
      '-e',
      '0',
    ])
    if (probe.status === 0) return { node }
  }
  return { skip: 'no Node binary that the user nobody may run' }
}

/** Runs `node -e script` as nobody; stderr is piped (for the failure message), stdout as asked. */
export function spawnNodeAsNobody(node: string, script: string, stdout: 'pipe' | 'ignore'): ChildProcess {
  return spawn(SETPRIV, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', node, '-e', script], {
    stdio: ['ignore', stdout, 'pipe'],
  })
}
