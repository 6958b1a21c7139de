import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CampaignResult } from '../../src/lab/campaign/campaign.js'

/** Log lines shown per host and round: enough for a DCUtR exchange, not a whole log. */
const MAX_LINES = 40
const MAX_LINE_CHARS = 400
/** Slack around a round's window: the two sides' clocks are one, but logging lags. */
const SLACK_MS = 1_000

/**
 * What a failed lab test prints: the verdict table and its problems, then, for every round
 * that disagrees with its ground truth, the lines its client's and remote's logs wrote while it
 * ran. A campaign's run folder is gone with the test's temporary directory, and a rare
 * disagreement in CI cannot be rerun: the evidence has to be in the test's output.
 */
export function explainFailure(result: CampaignResult): string {
  const parts = [result.table, ...result.verdict.problems]
  for (const { round, agrees } of result.verdict.rounds) {
    if (agrees !== false) continue
    const from = round.connectStartedUs / 1000 - SLACK_MS
    const to = round.endedUs / 1000 + SLACK_MS
    parts.push(
      `--- round ${round.id}: ${round.client} → ${round.remote ?? round.remotePeer}, ${round.outcome}`,
    )
    for (const host of [round.client, round.remote]) {
      if (host === undefined) continue
      for (const file of logFiles(result.folder.logs, host)) {
        const lines = linesBetween(join(result.folder.logs, file), from, to)
        parts.push(`${file} (${lines.length} line(s) in the round):`, ...lines.slice(0, MAX_LINES))
        if (lines.length > MAX_LINES) parts.push(`… ${lines.length - MAX_LINES} more`)
      }
    }
  }
  return `\n${parts.join('\n')}`
}

function logFiles(dir: string, host: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((f) => f === `${host}-client.log` || f === `${host}-remote.log`)
}

/** The JSON log lines of `file` whose `time` lies in [from, to] (ms since the epoch). */
function linesBetween(file: string, from: number, to: number): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      const time = /"time":"([^"]+)"/.exec(line)?.[1]
      const ms = time === undefined ? Number.NaN : Date.parse(time)
      return ms >= from && ms <= to
    })
    .map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line))
}
