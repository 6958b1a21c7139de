import { logger } from '../lib/logger.js'

/**
 * Node and V8 settings for the long-running client, each measured on its own in
 * docs/FOOTPRINT.md. They must be in place when the process starts (V8 sizes its heap then,
 * glibc its malloc arenas), and the client is started in many ways: the `punchr` launcher, a
 * systemd unit, the tray, the lab, `node dist/src/cli/main.js`. So the client applies them
 * itself: before loading anything heavy it replaces its own process image with one that has
 * them (execve keeps the process id, its parent, its open files and its terminal).
 */

/**
 * A young generation of 1 MiB semi-spaces instead of up to 16 MiB; code and heap sized for
 * memory; no TurboFan (hot code still gets Maglev, V8's faster mid-tier compiler: a round
 * cost the same CPU without it, 6 MiB less memory).
 */
export const CLIENT_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--no-opt'] as const

/** One malloc arena: Node's helper threads would otherwise each grow their own. */
export const CLIENT_ENV = { MALLOC_ARENA_MAX: '1' } as const

/**
 * PUNCHR_CLIENT_RUNTIME=node keeps Node's defaults (the benchmark's "before"); `applied` marks
 * a process that already re-executed itself, so that it never loops.
 */
export const CLIENT_RUNTIME_ENV = 'PUNCHR_CLIENT_RUNTIME'

/** Re-executes this process with the client's settings, when it can and has not yet; else returns. */
export function applyClientRuntime(): void {
  const mode = process.env[CLIENT_RUNTIME_ENV]
  // process.execve exists on Node ≥ 22.15 and not on Windows; without it the client runs as started.
  if (mode === 'node' || mode === 'applied' || typeof process.execve !== 'function') return
  const script = process.argv[1]
  if (script === undefined) return
  try {
    process.execve(
      process.execPath,
      [process.argv0, ...CLIENT_NODE_FLAGS, ...process.execArgv, script, ...process.argv.slice(2)],
      { ...process.env, ...CLIENT_ENV, [CLIENT_RUNTIME_ENV]: 'applied' },
    )
  } catch (err) {
    // A sandbox that forbids execve, say: measure anyway, with Node's defaults.
    logger('cli').warn(
      { err },
      'running the client with Node defaults: cannot re-execute with its runtime settings',
    )
  }
}
