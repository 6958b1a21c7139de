import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { type EventLoopUtilization, performance } from 'node:perf_hooks'

/**
 * Where the machine's CPU went during a measurement (Linux /proc): the server's main thread
 * (with PGlite in it), the rest of this process (the load generator's worker thread, GC and
 * I/O threads), the PostgreSQL cluster, and everything else — the machine may be shared.
 * Figures are in cores (2.0 = two cores fully busy).
 */
export interface CpuShares {
  machine: number
  serverThread: number
  /** This process minus the server thread: mostly the load generator. */
  restOfProcess: number
  postgres: number
  others: number
  /** Event-loop utilisation of the main thread (the server), 0–1. */
  serverEventLoop: number
}

export interface CpuSnapshot {
  total: number
  idle: number
  self: number
  mainThread: number
  postgres: number
  elu: EventLoopUtilization
}

function machineTicks(): { total: number; idle: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
    const values = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { total: values.reduce((a, b) => a + b, 0), idle }
  } catch {
    return { total: 0, idle: 0 }
  }
}

/** utime + stime of a process, the same of its exited (reaped) children, and its parent pid. */
function processTicks(
  pid: number,
  path = `/proc/${pid}/stat`,
): { ticks: number; reapedChildren: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(path, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {
      ticks: Number(fields[11]) + Number(fields[12]),
      reapedChildren: Number(fields[13]) + Number(fields[14]),
      ppid: Number(fields[1]),
    }
  } catch {
    return undefined
  }
}

/** The postmaster's pid from its data folder, when it is readable. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * The postmaster and all its children (backends, autovacuum, writers). A backend that exits
 * (an idle pool connection closed, an autovacuum worker done) is reaped by the postmaster, so
 * its time moves into the postmaster's children counters: counting both keeps the sum steady.
 */
function clusterTicks(postmaster: number | undefined): number {
  if (postmaster === undefined) return 0
  const main = processTicks(postmaster)
  let sum = (main?.ticks ?? 0) + (main?.reapedChildren ?? 0)
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return 0
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const info = processTicks(Number(entry))
    if (info !== undefined && info.ppid === postmaster) sum += info.ticks
  }
  return sum
}

export function cpuSnapshot(postmaster: number | undefined): CpuSnapshot {
  const m = machineTicks()
  return {
    total: m.total,
    idle: m.idle,
    self: processTicks(process.pid)?.ticks ?? 0,
    mainThread: processTicks(process.pid, `/proc/${process.pid}/task/${process.pid}/stat`)?.ticks ?? 0,
    postgres: clusterTicks(postmaster),
    elu: performance.eventLoopUtilization(),
  }
}

export function cpuShares(from: CpuSnapshot, to: CpuSnapshot): CpuShares | undefined {
  const total = to.total - from.total
  if (total <= 0) return undefined
  const cores = cpus().length
  const perCore = total / cores
  const machine = (total - (to.idle - from.idle)) / perCore
  const self = (to.self - from.self) / perCore
  const serverThread = (to.mainThread - from.mainThread) / perCore
  const postgres = (to.postgres - from.postgres) / perCore
  return {
    machine,
    serverThread,
    restOfProcess: Math.max(0, self - serverThread),
    postgres,
    others: Math.max(0, machine - self - postgres),
    serverEventLoop: performance.eventLoopUtilization(to.elu, from.elu).utilization,
  }
}
