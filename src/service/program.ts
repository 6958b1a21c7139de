// What a unit starts: the Node binary running this punchr (≥ 22, the one bin/punchr.js handed
// over to when an older Node started it) and this installation's bin/punchr.js, both as
// absolute paths: a service has no PATH of the user's and no working directory of theirs.
import { existsSync, realpathSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ConfigError } from '../lib/errors.js'
import type { Scope } from './layout.js'

export interface Program {
  node: string
  entry: string
  /** docs/SERVICES.md of this installation, for Documentation=. */
  docs: string
}

/** The running program; this file is dist/src/service/program.js in an installation. */
export function runningProgram(): Program {
  const root = new URL('../../../', import.meta.url)
  const entry = fileURLToPath(new URL('bin/punchr.js', root))
  if (!existsSync(entry)) throw new Error(`punchr's entry point is missing: ${entry}`)
  return {
    // Already the resolved binary (Node reads /proc/self/exe), so a Node upgrade in place is kept.
    node: process.execPath,
    entry: realpathSync(entry),
    docs: pathToFileURL(fileURLToPath(new URL('docs/SERVICES.md', root))).href,
  }
}

/** Home folders: ProtectHome= hides them from a system service, and its user could not read them. */
const HOME_ROOTS = ['/home/', '/root/', '/run/user/']

/**
 * A system service runs as a throw-away user with home folders hidden: a punchr (or Node)
 * installed in someone's home cannot start. Said at install instead of at the first start.
 */
export function checkProgramReachable(program: Program, scope: Scope): void {
  if (scope !== 'system') return
  for (const [what, path] of [
    ['punchr', program.entry],
    ['Node', program.node],
  ] as const) {
    if (HOME_ROOTS.some((root) => path.startsWith(root))) {
      throw new ConfigError(
        `${what} is installed in a home folder (${path}), which a system service cannot see (ProtectHome=) nor read (it runs as its own user): install punchr elsewhere, e.g. under /opt or with npm install -g, or install a user unit with --user`,
      )
    }
  }
}
