#!/usr/bin/env node
// Entry point of the `punchr` command. The TypeScript sources are compiled to dist/ by
// `npm run build` (`npm start` and `npm test` do it). punchr needs Node ≥ 22; the project
// brings one through npm (node_modules/.bin/node), so an older Node that starts this file
// hands over to it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  const bundled = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))
  if (!existsSync(bundled)) {
    process.stderr.write(
      `punchr needs Node.js 22 or newer (this is ${process.version}); run npm install in the punchr folder first\n`,
    )
    process.exit(1)
  }
  const result = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  process.exit(result.status ?? 1)
}
if (!existsSync(fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url)))) {
  process.stderr.write('punchr is not built yet: run npm run build (or npm start) first\n')
  process.exit(1)
}
await import('../dist/src/cli/main.js')
