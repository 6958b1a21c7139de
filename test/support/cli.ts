import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The punchr CLI as users start it (dist/test/support/ → repository root). */
export const PUNCHR_BIN = fileURLToPath(new URL('../../../bin/punchr.js', import.meta.url))

/** Runs `punchr <args>` to completion (logs at warn unless `env` says otherwise). */
export function punchr(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [PUNCHR_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PUNCHR_LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  })
  return { code: res.status, stdout: res.stdout, stderr: res.stderr }
}
