// Talking to the service manager through systemctl. Kept apart from the file work so that
// install and uninstall can be tested with a recorded fake, and so that a machine without a
// running systemd (a container, WSL without systemd) is told what to run instead of failing.
import { spawnSync } from 'node:child_process'
import type { Scope } from './layout.js'

export interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
  /** Set when the command could not be started at all (ENOENT: no systemctl). */
  error?: string
}

/** Runs `systemctl <args>`. */
export type SystemctlRunner = (args: readonly string[]) => CommandResult

export const runSystemctl: SystemctlRunner = (args) => {
  const res = spawnSync('systemctl', args, { encoding: 'utf8', timeout: 120_000 })
  return {
    code: res.status,
    stdout: res.stdout ?? '',
    stderr: res.stderr ?? '',
    ...(res.error === undefined ? {} : { error: res.error.message }),
  }
}

/** `systemctl` or `systemctl --user` followed by `args`, as a user would type it. */
export function systemctlArgs(scope: Scope, ...args: string[]): string[] {
  return scope === 'user' ? ['--user', ...args] : args
}

/** Manager states in which units can be loaded and started. */
const USABLE_STATES = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance'])

/**
 * Whether the manager of `scope` answers: `systemctl is-system-running` prints its state, and
 * `offline` where systemd is not PID 1 (containers) or no user manager runs.
 * Returns the reason when it is not usable.
 */
export function managerUnusable(run: SystemctlRunner, scope: Scope): string | undefined {
  const res = run(systemctlArgs(scope, 'is-system-running'))
  if (res.error !== undefined) return `systemctl cannot be run (${res.error})`
  const state = res.stdout.trim()
  if (USABLE_STATES.has(state)) return undefined
  const said = [state, res.stderr.trim()].filter((s) => s !== '').join('; ')
  return `the ${scope === 'user' ? 'user ' : ''}service manager is not available (systemctl${scope === 'user' ? ' --user' : ''} is-system-running: ${said || `exit ${res.code}`})`
}

/** The shell line for a systemctl call, for messages. */
export function shellLine(scope: Scope, args: readonly string[]): string {
  return ['systemctl', ...systemctlArgs(scope, ...args)].join(' ')
}
