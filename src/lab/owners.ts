import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'

/**
 * Which process owns which lab: one small file per running lab under /run (a tmpfs, so a reboot
 * forgets them along with the namespaces). `punchr lab clean` leaves alone the labs whose owner
 * is still alive, so cleaning up in one terminal does not pull the network from under a
 * campaign running in another.
 */
export const OWNERS_DIR = '/run/punchr-lab'

export interface LabOwner {
  id: string
  pid: number
  scenario: string
  startedAt: string
}

export function recordOwner(owner: LabOwner): void {
  try {
    mkdirSync(OWNERS_DIR, { recursive: true })
    writeFileSync(`${OWNERS_DIR}/${owner.id}.json`, `${JSON.stringify(owner)}\n`)
  } catch {
    // Without the record the lab still works; clean just cannot tell that it is in use.
  }
}

export function forgetOwner(id: string): void {
  rmSync(`${OWNERS_DIR}/${id}.json`, { force: true })
}

export function readOwner(id: string): LabOwner | undefined {
  try {
    return JSON.parse(readFileSync(`${OWNERS_DIR}/${id}.json`, 'utf8')) as LabOwner
  } catch {
    return undefined
  }
}

/** Ids with an owner record (a lab may have one without namespaces after a crash mid-teardown). */
export function ownedLabIds(): string[] {
  try {
    return readdirSync(OWNERS_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
  } catch {
    return []
  }
}

/** Whether the process runs; a zombie (dead, not yet reaped by its parent) does not. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // `pid (comm) S …`: the state follows the last ')', since comm may contain anything.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
