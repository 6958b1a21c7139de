// `punchr report`: the campaign's key tables from the database, on stdout.

import { withReadDatabase } from '../dashboard/read-database.js'
import { campaignReport, reportCsv, reportMarkdown } from '../dashboard/report.js'
import { parseTimeRange } from '../dashboard/time-range.js'
import { databaseFlags } from '../db/database-flags.js'
import { type FlagSpec, optionalStringFlag, parseFlags, renderHelp } from '../lib/flags.js'
import type { Command } from './main.js'

/** `--format` of report and export: one of a few names. */
export function formatFlag<T extends string>(
  description: string,
  choices: readonly T[],
  fallback: T,
): FlagSpec<T> {
  return {
    name: 'format',
    description: `${description}: ${choices.join(' or ')}`,
    default: fallback,
    parse: (raw, fail) =>
      (choices as readonly string[]).includes(raw) ? (raw as T) : fail(`expected ${choices.join(' or ')}`),
  }
}

/** `--since` / `--until`, shared with export: ISO 8601 (UTC unless zoned), 'now', or 30m/24h/7d/2w before now. */
export const rangeFlags = {
  since: optionalStringFlag(
    'since',
    'Start of the range: ISO 8601 (UTC unless zoned) or a duration before now (24h, 7d)',
    {
      group: 'Range',
    },
  ),
  until: optionalStringFlag('until', 'End of the range (excluded), same forms (default: now)', {
    group: 'Range',
  }),
}

const reportFlags = {
  ...rangeFlags,
  format: formatFlag('Output', ['md', 'csv'] as const, 'md'),
  ...databaseFlags,
}

export const runReport: Command = async (argv, env) => {
  const { values, help } = parseFlags('report', reportFlags, argv, env)
  if (help) {
    process.stdout.write(
      renderHelp(
        'report',
        'punchr report [--since 30d] [--until now] [--format md|csv]   (the range defaults to the last 7 days;\n' +
          '       with the embedded database, stop punchr up first: PGlite is single-process)',
        reportFlags,
      ),
    )
    return 0
  }
  const range = parseTimeRange(values.since, values.until)
  const tables = await withReadDatabase(values, 'report', (db) => campaignReport(db, range))
  process.stdout.write(values.format === 'md' ? reportMarkdown(range, tables) : reportCsv(tables))
  return 0
}
