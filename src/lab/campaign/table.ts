import { textTable } from '../text-table.js'
import type { Verdict } from './verdict.js'

/** The campaign's table: one line per (IP version, client NAT, remote NAT, remote impl, transport) beside the expectation. */
export function formatVerdictTable(verdict: Verdict): string {
  // IPv4-only campaigns keep their table as it was.
  const withIp = verdict.groups.some((g) => g.ipVersion !== 4)
  const header = [
    ...(withIp ? ['IP'] : []),
    'client NAT',
    'remote NAT',
    'remote impl',
    'transport',
    'rounds',
    'measured',
    '1st attempt',
    'expected',
    'verdict',
  ]
  const rows = verdict.groups.map((g) => [
    ...(withIp ? [String(g.ipVersion)] : []),
    g.clientNat,
    g.remoteNat,
    g.remoteBehaviour === undefined ? g.remoteImpl : `${g.remoteImpl} ${g.remoteBehaviour}`,
    g.transport,
    String(g.rounds),
    Object.entries(g.measured)
      .sort(([, a], [, b]) => b - a)
      .map(([outcome, n]) => `${outcome} ${n}`)
      .join(', '),
    g.measured.SUCCESS === undefined ? '-' : `${g.firstAttemptSuccesses}/${g.measured.SUCCESS}`,
    g.expected,
    g.disagree > 0 ? `DIFFERS (${g.disagree})` : g.agree > 0 ? 'ok' : 'not judged',
  ])
  const lines = textTable(header, rows, { rule: true })
  const judged = verdict.agree + verdict.disagree
  lines.push(
    '',
    `${verdict.agree} of ${judged} judged rounds agree with the ground truth` +
      (verdict.notJudged > 0 ? `; ${verdict.notJudged} not judged (cancelled)` : ''),
  )
  return lines.join('\n')
}
