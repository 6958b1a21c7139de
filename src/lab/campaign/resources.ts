import { readFileSync } from 'node:fs'
import { descendantsOf } from '../process-tree.js'

/**
 * Samples a process's memory and CPU from /proc while a campaign runs, so that a run folder
 * says how heavy each program was (the client's figures go to docs/benchmarks.md). The figures
 * are of the whole process tree: the process and every helper it started.
 */

export interface ResourceUsage {
  /** Seconds the process was sampled. */
  wallSeconds: number
  /** User + system CPU seconds over that time. */
  cpuSeconds: number
  /** cpuSeconds / wallSeconds, in % of one core. */
  cpuPercent: number
  /** The same after the first WARMUP_MS (start-up left out); undefined for shorter runs. */
  steadyCpuPercent: number | undefined
  /** Resident set size: mean of the samples and the kernel's high-water mark (VmHWM), MiB. */
  rssMeanMiB: number
  rssPeakMiB: number
  samples: number
  /**
   * A leak check: mean RSS of each tenth of the samples after the warm-up, in order (MiB), the
   * first and the last of them apart; undefined for runs with fewer than MIN_DRIFT_SAMPLES of
   * them. The tenths between tell a steady climb from a step or a swing.
   */
  rssDrift: { firstMiB: number; lastMiB: number; tenthsMiB: number[] } | undefined
}

export const CLOCK_TICKS_PER_SECOND = 100 // USER_HZ on Linux
const SAMPLE_MS = 1_000
/** Start-up (libp2p hosts, registration) is over well within this. */
const WARMUP_MS = 30_000
/** Samples after the warm-up that a drift figure needs: a tenth of them is at least 3. */
const MIN_DRIFT_SAMPLES = 30

/**
 * The leak figures of RSS samples (KiB, in order): the mean of each tenth, the first and the
 * last apart; undefined for fewer than MIN_DRIFT_SAMPLES samples.
 */
export function rssDrift(samplesKiB: readonly number[]): ResourceUsage['rssDrift'] {
  if (samplesKiB.length < MIN_DRIFT_SAMPLES) return undefined
  const tenth = Math.floor(samplesKiB.length / 10)
  const meanMiB = (part: readonly number[]) => round(part.reduce((a, b) => a + b, 0) / part.length / 1024)
  // Ten equal parts from the start, the last one being the last tenth of the samples (the few
  // left over between the ninth and the last belong to none).
  const tenthsMiB = Array.from({ length: 10 }, (_, i) =>
    meanMiB(i === 9 ? samplesKiB.slice(-tenth) : samplesKiB.slice(i * tenth, (i + 1) * tenth)),
  )
  return { firstMiB: tenthsMiB[0]!, lastMiB: tenthsMiB[9]!, tenthsMiB }
}

export class ResourceSampler {
  private readonly timer: NodeJS.Timeout
  private first: { at: number; cpu: number } | undefined
  private warm: { at: number; cpu: number } | undefined
  private last: { at: number; cpu: number } | undefined
  private peakKiB = 0
  private rssSumKiB = 0
  private samples = 0
  /** RSS of each sample after the warm-up, KiB. */
  private readonly steadyRssKiB: number[] = []

  constructor(private readonly pid: number) {
    this.sample()
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
  }

  /** Takes a last sample and stops; undefined when the process was never seen alive. */
  stop(): ResourceUsage | undefined {
    clearInterval(this.timer)
    this.sample()
    if (this.first === undefined || this.last === undefined || this.samples === 0) return undefined
    const last = this.last
    const percent = (from: { at: number; cpu: number }) => {
      const wall = (last.at - from.at) / 1000
      return wall > 0 ? round((100 * (last.cpu - from.cpu)) / CLOCK_TICKS_PER_SECOND / wall) : 0
    }
    return {
      wallSeconds: round((last.at - this.first.at) / 1000),
      cpuSeconds: round((last.cpu - this.first.cpu) / CLOCK_TICKS_PER_SECOND),
      cpuPercent: percent(this.first),
      steadyCpuPercent: this.warm === undefined || this.warm.at === last.at ? undefined : percent(this.warm),
      rssMeanMiB: round(this.rssSumKiB / this.samples / 1024),
      rssPeakMiB: round(this.peakKiB / 1024),
      samples: this.samples,
      rssDrift: rssDrift(this.steadyRssKiB),
    }
  }

  /** One sample; once the process is gone the last one taken while it was alive stands. */
  private sample(): void {
    const now = readProcTree(this.pid)
    if (now === undefined) return
    const at = performance.now()
    this.first ??= { at, cpu: now.cpuTicks }
    if (this.warm === undefined && at - this.first.at >= WARMUP_MS) this.warm = { at, cpu: now.cpuTicks }
    this.last = { at, cpu: now.cpuTicks }
    this.peakKiB = Math.max(this.peakKiB, now.peakKiB)
    this.rssSumKiB += now.rssKiB
    this.samples++
    if (this.warm !== undefined) this.steadyRssKiB.push(now.rssKiB)
  }
}

/**
 * readProc summed over a process and all its live descendants: what a user pays for a program
 * that runs helpers (a launcher, the tray's client, a native helper). CPU also counts the
 * descendants that have exited and were reaped (cutime + cstime); the peak is the sum of each
 * process's own high-water mark, an upper bound of the tree's.
 */
export function readProcTree(pid: number): { cpuTicks: number; rssKiB: number; peakKiB: number } | undefined {
  const root = readProc(pid)
  if (root === undefined) return undefined
  const total = { cpuTicks: root.cpuTicks + root.reapedTicks, rssKiB: root.rssKiB, peakKiB: root.peakKiB }
  for (const child of descendantsOf(pid)) {
    const proc = readProc(child)
    if (proc === undefined) continue
    total.cpuTicks += proc.cpuTicks + proc.reapedTicks
    total.rssKiB += proc.rssKiB
    total.peakKiB += proc.peakKiB
  }
  return total
}

/**
 * CPU ticks (utime + stime), the ticks of its reaped children (cutime + cstime) and memory of a
 * live process; undefined once it is gone, and for a zombie (exited, not yet reaped: its status
 * has no memory lines left).
 */
export function readProc(
  pid: number,
): { cpuTicks: number; reapedTicks: number; rssKiB: number; peakKiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuTicks = Number(fields[11]) + Number(fields[12]) // fields 14 and 15 of stat(5)
    const reapedTicks = Number(fields[13]) + Number(fields[14]) // 16 and 17: cutime, cstime
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (name: string) => new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]
    const rss = kib('VmRSS')
    if (rss === undefined) return undefined
    return { cpuTicks, reapedTicks, rssKiB: Number(rss), peakKiB: Number(kib('VmHWM') ?? rss) }
  } catch {
    return undefined
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}
