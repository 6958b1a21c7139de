import { runCommand } from './command.js'
import { LAB_NAME_PATTERN, labIdOf } from './names.js'
import { ipBatch, killNamespaceProcesses, listNamespaces, namespaceInode } from './netns.js'
import { forgetOwner, isAlive, ownedLabIds, readOwner } from './owners.js'

/**
 * Removes what labs left behind (a SIGKILLed owner cannot tear down): every namespace whose name
 * carries a lab prefix (`pl1a2b3c-…`) after killing the processes inside it, root-namespace
 * interfaces with such names (the lab never creates any, older or foreign builds might), and
 * stale owner records. Labs whose owner process is still running are skipped unless `force`.
 */
export interface CleanOptions {
  /** Also remove labs whose owner process is alive. @default false */
  force?: boolean
  /** Only these lab ids. @default every lab found */
  ids?: readonly string[]
}

export interface CleanReport {
  namespaces: string[]
  interfaces: string[]
  killedPids: number[]
  /** Labs left alone because their owner runs, with its pid. */
  skipped: { id: string; pid: number; scenario: string }[]
}

export async function cleanLabs(options: CleanOptions = {}): Promise<CleanReport> {
  const wanted = (id: string) => options.ids === undefined || options.ids.includes(id)
  const report: CleanReport = { namespaces: [], interfaces: [], killedPids: [], skipped: [] }

  const byLab = new Map<string, string[]>()
  for (const ns of listNamespaces()) {
    const id = labIdOf(ns)
    if (id !== undefined && wanted(id)) byLab.set(id, [...(byLab.get(id) ?? []), ns])
  }
  const interfaces = (await rootInterfaces()).filter((name) => {
    const id = labIdOf(name)
    return id !== undefined && wanted(id)
  })
  for (const name of interfaces) {
    const id = labIdOf(name)!
    if (!byLab.has(id)) byLab.set(id, [])
  }
  for (const id of ownedLabIds()) if (wanted(id) && !byLab.has(id)) byLab.set(id, [])

  const doomed: string[] = []
  for (const [id, namespaces] of byLab) {
    const owner = readOwner(id)
    if (owner !== undefined && owner.pid !== process.pid && isAlive(owner.pid) && options.force !== true) {
      report.skipped.push({ id, pid: owner.pid, scenario: owner.scenario })
      continue
    }
    doomed.push(id)
    report.namespaces.push(...namespaces)
  }

  const inodes = new Set(report.namespaces.map(namespaceInode).filter((i) => i !== undefined))
  report.killedPids = await killNamespaceProcesses(inodes)
  await ipBatch(
    report.namespaces.map((ns) => `netns del ${ns}`),
    { force: true },
  )
  report.interfaces = interfaces.filter((name) => doomed.includes(labIdOf(name)!))
  // Deleting one end of a veth deletes its peer, so later lines may fail: -force goes on.
  await ipBatch(
    report.interfaces.map((name) => `link del dev ${name}`),
    { force: true },
  ).catch(() => undefined)
  for (const id of doomed) forgetOwner(id)
  return report
}

/** Names of the root namespace's interfaces that look like a lab's. */
async function rootInterfaces(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['-o', 'link', 'show'])
  // `7: pl1a2b3c-x@if8: <BROADCAST,…` — the name ends at '@' (veth peer) or ':'.
  return stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && LAB_NAME_PATTERN.test(name))
}
