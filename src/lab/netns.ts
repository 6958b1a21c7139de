import { execFileSync } from 'node:child_process'
import { readdirSync, readlinkSync, statSync } from 'node:fs'
import { runCommand } from './command.js'

/**
 * Network namespace housekeeping shared by teardown and `punchr lab clean`. Finding the
 * processes inside a namespace reads /proc directly (a namespace is identified by the inode of
 * its nsfs file) instead of spawning `ip netns pids` per namespace: about 1 ms for all of them.
 */

/** Where `ip netns add` puts its namespace files (iproute2's NETNS_RUN_DIR; /run/netns on Debian). */
export const NETNS_DIR = '/var/run/netns'

/** Names of the named network namespaces (those `ip netns list` shows). */
export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR)
  } catch {
    return [] // no namespace was ever added on this machine
  }
}

/** The nsfs inode identifying a named namespace, or undefined when it does not exist. */
export function namespaceInode(name: string): number | undefined {
  try {
    return statSync(`${NETNS_DIR}/${name}`).ino
  } catch {
    return undefined
  }
}

/** Process ids whose network namespace is one of `inodes`. */
export function pidsInNamespaces(inodes: ReadonlySet<number>): number[] {
  if (inodes.size === 0) return []
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let link: string
    try {
      link = readlinkSync(`/proc/${entry}/ns/net`)
    } catch {
      continue // gone meanwhile, or a zombie (which has left its namespaces already)
    }
    const inode = Number(/^net:\[(\d+)\]$/.exec(link)?.[1])
    if (inodes.has(inode)) pids.push(Number(entry))
  }
  return pids
}

export function killPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs everything in the namespaces and waits (up to `timeoutMs`) until it has left them. */
export async function killNamespaceProcesses(
  inodes: ReadonlySet<number>,
  timeoutMs = 2_000,
): Promise<number[]> {
  const killed = new Set<number>()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const pids = pidsInNamespaces(inodes)
    if (pids.length === 0 || Date.now() > deadline) return [...killed]
    for (const pid of pids) killed.add(pid)
    killPids(pids, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The synchronous twin of killNamespaceProcesses, for exit handlers (no waiting possible there). */
export function killNamespaceProcessesSync(inodes: ReadonlySet<number>): number[] {
  const pids = pidsInNamespaces(inodes)
  killPids(pids, 'SIGKILL')
  return pids
}

/**
 * `ip -force -batch -` with `lines` on stdin: one process for any number of commands; -force
 * carries on after a failing line (teardown deletes whatever still exists).
 */
export async function ipBatch(
  lines: readonly string[],
  options: { netns?: string; force?: boolean } = {},
): Promise<void> {
  if (lines.length === 0) return
  await runCommand('ip', ipBatchArgs(options), { input: `${lines.join('\n')}\n` })
}

export function ipBatchSync(
  lines: readonly string[],
  options: { netns?: string; force?: boolean } = {},
): void {
  if (lines.length === 0) return
  try {
    execFileSync('ip', ipBatchArgs(options), {
      input: `${lines.join('\n')}\n`,
      stdio: ['pipe', 'ignore', 'pipe'],
    })
  } catch {
    // best effort: used by exit handlers, which have nobody to report to
  }
}

function ipBatchArgs(options: { netns?: string; force?: boolean }): string[] {
  return [
    ...(options.netns === undefined ? [] : ['-n', options.netns]),
    ...(options.force === true ? ['-force'] : []),
    '-batch',
    '-',
  ]
}
