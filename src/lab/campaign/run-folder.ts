import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** Where a campaign keeps everything it produced; kept after the run. */
export interface RunFolder {
  root: string
  /** One `<node>-<program>.log` (stderr: pino JSON) and `.out` (stdout) per process. */
  logs: string
  /** The server's embedded database. */
  database: string
  /** Per-client host key files and report queues. */
  clients: string
  /** One JSON line per stored round, with the expectation and the verdict. */
  results: string
  /** The table, as printed. */
  table: string
  /** Counts, problems, timings. */
  summary: string
}

/** Creates `<base>/<scenario>-<UTC time>-<lab id>/` and its sub-folders. */
export function createRunFolder(base: string, scenario: string, labId: string, now = new Date()): RunFolder {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  const root = resolve(base, `${scenario}-${stamp}-${labId}`)
  const folder: RunFolder = {
    root,
    logs: join(root, 'logs'),
    database: join(root, 'database'),
    clients: join(root, 'clients'),
    results: join(root, 'results.jsonl'),
    table: join(root, 'table.txt'),
    summary: join(root, 'summary.json'),
  }
  for (const dir of [folder.logs, folder.clients]) mkdirSync(dir, { recursive: true })
  return folder
}
