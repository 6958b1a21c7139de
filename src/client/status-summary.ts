// The text `kill -USR1 <pid>` prints on stdout: the last hour at a glance, for a volunteer
// who runs the client in a terminal or under a service manager and wants to know how it goes
// without stopping it. Made from the status snapshot, so it says what the status page says.

import type { StatusJson } from './status.js'
import type { OutcomeTally } from './status-counts.js'

export function lastHourSummary(status: StatusJson): string {
  // Local time, as the volunteer's clock shows it.
  const since = new Date(status.lastHour.since).toTimeString().slice(0, 5)
  const lines = [
    `punchr client, last hour (since ${since}): ${status.lastHour.rounds} round(s)${outcomes(status.lastHour)}`,
    `  success rate SUCCESS/(SUCCESS+FAILED): ${rate(status.lastHour)}`,
    `  today: ${status.today.rounds} round(s), success rate ${rate(status.today)}`,
    `  now: ${status.state} — ${status.detail}`,
  ]
  if (status.lastRound !== null) {
    const r = status.lastRound
    lines.push(
      `  last round: ${r.outcome} with ${r.remoteId}${r.transport === null ? '' : ` over ${r.transport}`}, ${r.attempts} attempt(s), at ${r.finishedAt}`,
    )
  }
  lines.push(`  queue: ${status.queue.reports} report(s), ${status.queue.bytes} bytes, for ${status.server}`)
  return `${lines.join('\n')}\n`
}

/** ` — SUCCESS 3, FAILED 1`, most frequent first. */
function outcomes(t: OutcomeTally): string {
  const entries = Object.entries(t.byOutcome).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return entries.length === 0 ? '' : ` — ${entries.map(([o, n]) => `${o} ${n}`).join(', ')}`
}

/** `75.0 % (3/4)`, or `n/a` without SUCCESS or FAILED. */
export function rate(t: OutcomeTally): string {
  if (t.successRate === null) return 'n/a'
  return `${(100 * t.successRate).toFixed(1)} % (${t.successes}/${t.successes + t.failures})`
}
