// `punchr report`: the campaign's key tables from the same queries as the dashboard,
// as Markdown for people or as one CSV for programs.
import type { Queryable } from '../db/database.js'
import { csvRow } from './csv.js'
import {
  type BreakdownDimension,
  breakdown,
  breakdownTitle,
  NORMALISED_SUFFIX,
} from './queries/breakdowns.js'
import { OUTCOMES, outcomeTotals } from './queries/outcomes.js'
import { successAttempts } from './queries/successes.js'
import type { Proportion } from './statistics.js'
import type { TimeRange } from './time-range.js'

/**
 * One row of a report table. Every table has the same columns so that the CSV is one table:
 * `results` counts the group's results; `success`/`failed` and `share` are set where they
 * mean something (see REPORT_TABLES).
 */
export interface ReportRow {
  group: string
  results: number
  success: number | null
  failed: number | null
  share: Proportion | null
}

export interface ReportTable {
  name: string
  title: string
  /** What `share` is in this table, for the Markdown heading. */
  share: string | null
  /** A sentence under the Markdown heading on how to read the groups, where they need one. */
  note?: string
  rows: ReportRow[]
}

/** Groups shown per breakdown table; the rest is one "other" row. */
const BREAKDOWN_ROWS = 20
const BREAKDOWN_TABLES: BreakdownDimension[] = [
  'transport',
  'ip-version',
  'agent',
  'client-country',
  'remote-country',
  'client-implementation',
  'client-nat-mapping',
  'client-port-mapping',
]
const SUCCESS_RATE = 'success rate SUCCESS / (SUCCESS + FAILED)'

/** How to read a breakdown's groups, for the tables whose keys are not self-explanatory. */
const BREAKDOWN_NOTES: Partial<Record<BreakdownDimension, string>> = {
  'client-implementation':
    "punchr-ts: this project's client; punchr-go, punchr-rust: the original Go and Rust clients. " +
    `A group ending in "${NORMALISED_SUFFIX.trim()}" holds results of such an old client whose known quirks ` +
    'the server corrected before storing them (their codes: the `quirks` column of `punchr export`; ' +
    'docs/INTEROP.md, "Known quirks"); leave those rows out for an analysis of reports stored as sent.',
  'client-nat-mapping':
    "The client host's NAT mapping behaviour on the round's path, from the addresses its bootstrap peers observed " +
    '(RFC 4787): endpoint-independent lets a punch through a port-restricted cone; address- and ' +
    'address-and-port-dependent mappings (symmetric NATs) break it unless the other side is open. ' +
    'endpoint-dependent: not independent, port dependence untested; unknown: too few observers; ' +
    'mixed: an unfiltered round over paths whose mappings differ; ' +
    'not reported: clients other than punchr-ts (docs/OUTCOMES.md, "Client NAT behaviour").',
  'client-port-mapping':
    'mapped: the client held a UPnP IGD or NAT-PMP port mapping on its gateway during the round; none: it held none.',
}

/** Gathers the tables of a range. */
export async function campaignReport(db: Queryable, range: TimeRange): Promise<ReportTable[]> {
  const [totals, attempts, ...breakdowns] = await Promise.all([
    outcomeTotals(db, range),
    successAttempts(db, range),
    ...BREAKDOWN_TABLES.map((by) => breakdown(db, range, by, BREAKDOWN_ROWS)),
  ])
  return [
    {
      name: 'overview',
      title: `All results (${totals.clients} client hosts, ${totals.remotes} remotes)`,
      share: SUCCESS_RATE,
      rows: [
        {
          group: 'all',
          results: totals.results,
          success: totals.outcomes.SUCCESS,
          failed: totals.outcomes.FAILED,
          share: totals.successRate,
        },
      ],
    },
    {
      name: 'outcome',
      title: 'Outcomes',
      share: null,
      rows: OUTCOMES.map((o) => ({
        group: o,
        results: totals.outcomes[o],
        success: null,
        failed: null,
        share: null,
      })),
    },
    {
      name: 'success-attempt',
      title: 'Attempt on which successes happened',
      share: 'share of all successes',
      rows: attempts.attempts.map((a) => ({
        group: a.attempt === null ? 'none' : String(a.attempt),
        results: a.successes,
        success: null,
        failed: null,
        share: a.share,
      })),
    },
    ...breakdowns.map((b) => ({
      name: b.by,
      title: `By ${breakdownTitle(b.by)}`,
      share: SUCCESS_RATE,
      note: BREAKDOWN_NOTES[b.by],
      rows: [
        ...b.groups,
        ...(b.other === null ? [] : [{ ...b.other, key: `other (${b.other.groups} groups)` }]),
      ].map((g) => ({
        group: g.key,
        results: g.results,
        success: g.success,
        failed: g.failed,
        share: g.successRate,
      })),
    })),
  ]
}

const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`)

/** Markdown: a heading per table; the share with its 95 % interval in one column. */
export function reportMarkdown(range: TimeRange, tables: readonly ReportTable[]): string {
  const lines = [
    '# punchr campaign report',
    '',
    `Results stored from ${range.since.toISOString()} until ${range.until.toISOString()}. Intervals: 95 % Wilson.`,
  ]
  for (const table of tables) {
    const rateColumns = table.share === null ? [] : [table.share, '95 % interval']
    const counts = table.rows.some((r) => r.success !== null)
    const header = ['group', table.name === 'success-attempt' ? 'successes' : 'results']
    if (counts) header.push('SUCCESS', 'FAILED')
    header.push(...rateColumns)
    const rows = table.rows.map((r) => {
      const cells = [r.group, String(r.results)]
      if (counts) cells.push(String(r.success ?? '–'), String(r.failed ?? '–'))
      if (table.share !== null)
        cells.push(
          r.share?.rate == null ? '–' : `${percent(r.share.rate)} (${r.share.successes}/${r.share.trials})`,
          r.share?.rate == null ? '–' : `${percent(r.share.low)} – ${percent(r.share.high)}`,
        )
      return cells
    })
    lines.push('', `## ${table.title}`, '')
    if (table.note !== undefined) lines.push(table.note, '')
    lines.push(...markdownTable(header, rows))
  }
  return `${lines.join('\n')}\n`
}

function markdownTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
}

export const REPORT_CSV_COLUMNS = [
  'table',
  'group',
  'results',
  'success',
  'failed',
  'share',
  'ci_low',
  'ci_high',
]

/** One CSV for all tables (long format): load it and filter on `table`. Empty cells mean "not applicable". */
export function reportCsv(tables: readonly ReportTable[]): string {
  const rows = tables.flatMap((t) =>
    t.rows.map((r) => [
      t.name,
      r.group,
      r.results,
      r.success,
      r.failed,
      r.share?.rate,
      r.share?.low,
      r.share?.high,
    ]),
  )
  return [REPORT_CSV_COLUMNS, ...rows].map(csvRow).join('')
}
