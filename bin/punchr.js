#!/usr/bin/env node
// punchr's entry point in JavaScript: the `punchr` command (bin/punchr, a shell launcher) runs
// it on the package's Node 22, and so do systemd units, the tray and `node bin/punchr.js`. The
// TypeScript sources are compiled to dist/ by `npm run build` (`npm start` and `npm test` do it;
// `npm pack` too, so an installed package carries them). punchr needs Node ≥ 22; it depends on
// the npm package `node`, which brings one, so an older Node that starts this file hands over to
// it: a child process, with this one waiting beside it (bin/punchr execs instead).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The `node` package's binary as Node's resolver finds it: in our own node_modules in a
 * checkout or a global install, in a node_modules further up when npx or a project hoisted it.
 */
function bundledNode() {
  for (let dir = fileURLToPath(new URL('..', import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', 'node', 'bin', 'node')
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  const bundled = bundledNode()
  if (bundled === undefined) {
    process.stderr.write(
      `punchr needs Node.js 22 or newer (this is ${process.version}); run npm install in the punchr folder first\n`,
    )
    process.exit(1)
  }
  if (process.env.PUNCHR_HANDED_OVER === '1') {
    process.stderr.write(`punchr: ${bundled} is ${process.version}, not Node 22 or newer; reinstall punchr\n`)
    process.exit(1)
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    // Marks the hand-over: a Node found that is older than 22 stops here instead of looping.
    env: { ...process.env, PUNCHR_HANDED_OVER: '1' },
  })
  // Signals sent to this process id (a service manager's SIGTERM, `kill -USR1` for the client's
  // summary) are meant for punchr: pass them on. Ctrl-C and a closed terminal (SIGINT, SIGHUP)
  // reach the whole process group, the child included, so this one only keeps living for them:
  // passing them on too would make a second one, which the client takes as "exit at once".
  for (const signal of ['SIGTERM', 'SIGUSR1', 'SIGUSR2']) process.on(signal, () => child.kill(signal))
  for (const signal of ['SIGINT', 'SIGHUP']) process.on(signal, () => {})
  child.once('error', (err) => {
    process.stderr.write(`punchr: cannot start ${bundled}: ${err.message}\n`)
    process.exit(1)
  })
  child.once('exit', (code, signal) =>
    process.exit(code ?? (signal === null ? 1 : 128 + osConstants.signals[signal])),
  )
  // Everything below runs in the child.
  await new Promise(() => {})
}
if (!existsSync(fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url)))) {
  process.stderr.write('punchr is not built yet: run npm run build (or npm start) first\n')
  process.exit(1)
}
await import('../dist/src/cli/main.js')
