// What a volunteer sees: one line per round, and a summary when the client stops. Plain text
// for a terminal (stdout); the JSON logs on stderr carry the same and more.
import type { QueueDepth, QueueEvent } from './report-queue.js'
import type { LoopEvent } from './round-loop.js'

type Finished = Extract<LoopEvent, { type: 'round-finished' }>

/** `round 12  host 12D3…Kx9a → 12D3…pQ2e  SUCCESS  attempts 1 (SUCCESS)  1.23 s` */
export function roundLine(event: Finished, depth?: QueueDepth): string {
  const { result } = event
  const attempts = result.attempts.map((a) => a.outcome).join(',')
  const parts = [
    `round ${event.round}`,
    `host ${short(event.host.toString())} → ${short(event.target.remote.toString())}`,
    result.outcome,
    `attempts ${result.attempts.length}${attempts === '' ? '' : ` (${attempts})`}`,
    `${(result.durationMs / 1000).toFixed(2)} s`,
  ]
  if (depth !== undefined && depth.reports > 0) parts.push(`queue ${depth.reports}`)
  return parts.join('  ')
}

/** Counts for the summary. */
export class RoundStats {
  readonly started = Date.now()
  rounds = 0
  readonly outcomes = new Map<string, number>()
  readonly attempts = new Map<string, number>()
  sent = 0
  rejected = 0

  onLoopEvent = (event: LoopEvent): void => {
    if (event.type !== 'round-finished') return
    this.rounds++
    bump(this.outcomes, event.result.outcome)
    for (const a of event.result.attempts) bump(this.attempts, a.outcome)
  }

  onQueueEvent = (event: QueueEvent): void => {
    if (event.type === 'sent') this.sent++
    else if (event.type === 'rejected') this.rejected++
  }

  /** The summary printed on exit. */
  summary(depth: QueueDepth, queueDir: string): string {
    const success = this.outcomes.get('SUCCESS') ?? 0
    const failed = this.outcomes.get('FAILED') ?? 0
    const rate = success + failed === 0 ? 'n/a' : `${((100 * success) / (success + failed)).toFixed(1)} %`
    const lines = [
      `punchr client: ${this.rounds} round(s) in ${((Date.now() - this.started) / 1000).toFixed(1)} s`,
      `  outcomes: ${format(this.outcomes)}`,
      `  attempts: ${format(this.attempts)}`,
      `  success rate SUCCESS/(SUCCESS+FAILED): ${rate}`,
      `  reports: ${this.sent} accepted, ${this.rejected} rejected, ${depth.reports} still queued`,
    ]
    if (depth.reports > 0) lines.push(`  the queued reports in ${queueDir} are sent at the next start`)
    if (this.rejected > 0) lines.push(`  rejected reports and their reasons: ${queueDir}/rejected/`)
    return `${lines.join('\n')}\n`
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function format(map: Map<string, number>): string {
  if (map.size === 0) return 'none'
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
}

/** `12D3…pQ2e`: enough of a peer ID to tell it apart in a line of text. */
export function short(id: string): string {
  return id.length <= 12 ? id : `${id.slice(0, 4)}…${id.slice(-4)}`
}
