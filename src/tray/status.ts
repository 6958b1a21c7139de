// The client's GET /status.json (served beside /metrics on its loopback port), read by the
// tray. The shape is checked field by field: the tray may meet an older or newer client, and
// a wrong field must give a clear "status unavailable" rather than a crash or a wrong icon.

import { CLIENT_STATES, type ClientState } from '../lib/client-state.js'

export interface LastRound {
  finishedAt: Date
  outcome: string
  remoteId: string
  transport: string | null
  attempts: number
  durationMs: number
}

export interface ClientStatus {
  version: string
  state: ClientState
  detail: string
  startedAt: Date
  server: string
  dashboardUrl: string | null
  myResultsUrl: string | null
  hosts: string[]
  lastRound: LastRound | null
  today: { rounds: number; successes: number; failures: number; successRate: number | null }
  lastHour: { rounds: number; byOutcome: Record<string, number>; successRate: number | null }
  queue: { reports: number; bytes: number }
}

/** status.json is not what the tray understands; the message names the field. */
export class StatusShapeError extends Error {
  override readonly name = 'StatusShapeError'
}

/** Checks and converts a parsed status.json. Extra fields are ignored (a newer client). */
export function parseStatus(value: unknown): ClientStatus {
  const root = object(value, 'status')
  const today = object(root.today, 'today')
  const lastHour = object(root.lastHour, 'lastHour')
  const queue = object(root.queue, 'queue')
  const byOutcome = object(lastHour.byOutcome, 'lastHour.byOutcome')
  const state = string(root.state, 'state')
  if (!(CLIENT_STATES as readonly string[]).includes(state))
    throw new StatusShapeError(`state: unknown state ${JSON.stringify(state)}`)
  const hosts = root.hosts
  if (!Array.isArray(hosts)) throw new StatusShapeError('hosts: not an array')
  return {
    version: string(root.version, 'version'),
    state: state as ClientState,
    detail: string(root.detail, 'detail'),
    startedAt: date(root.startedAt, 'startedAt'),
    server: string(root.server, 'server'),
    dashboardUrl: nullable(root.dashboardUrl, 'dashboardUrl', httpUrl),
    myResultsUrl: nullable(root.myResultsUrl, 'myResultsUrl', httpUrl),
    hosts: hosts.map((h, i) => string(h, `hosts[${i}]`)),
    lastRound: nullable(root.lastRound, 'lastRound', lastRound),
    today: {
      rounds: count(today.rounds, 'today.rounds'),
      successes: count(today.successes, 'today.successes'),
      failures: count(today.failures, 'today.failures'),
      successRate: nullable(today.successRate, 'today.successRate', rate),
    },
    lastHour: {
      rounds: count(lastHour.rounds, 'lastHour.rounds'),
      byOutcome: Object.fromEntries(
        Object.entries(byOutcome).map(([k, v]) => [k, count(v, `lastHour.byOutcome.${k}`)]),
      ),
      successRate: nullable(lastHour.successRate, 'lastHour.successRate', rate),
    },
    queue: { reports: count(queue.reports, 'queue.reports'), bytes: count(queue.bytes, 'queue.bytes') },
  }
}

/** GET http://127.0.0.1:<port>/status.json, checked. Throws with a short reason. */
export async function fetchStatus(port: number, timeoutMs: number): Promise<ClientStatus> {
  let res: Response
  try {
    res = await fetch(statusJsonUrl(port), { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    // fetch says "fetch failed"; the cause says why (ECONNREFUSED: not listening yet).
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause
    const why = typeof cause?.code === 'string' ? cause.code : (err as Error).message
    throw new Error(`status.json not reachable (${why})`)
  }
  if (!res.ok) throw new Error(`status.json answered HTTP ${res.status}`)
  return parseStatus(await res.json())
}

export function statusJsonUrl(port: number): string {
  return `http://127.0.0.1:${port}/status.json`
}

/** The client's own status page (the tray's "Open status page"). */
export function statusPageUrl(port: number): string {
  return `http://127.0.0.1:${port}/`
}

function lastRound(value: unknown, path: string): LastRound {
  const r = object(value, path)
  return {
    finishedAt: date(r.finishedAt, `${path}.finishedAt`),
    outcome: string(r.outcome, `${path}.outcome`),
    remoteId: string(r.remoteId, `${path}.remoteId`),
    transport: nullable(r.transport, `${path}.transport`, string),
    attempts: count(r.attempts, `${path}.attempts`),
    durationMs: number(r.durationMs, `${path}.durationMs`),
  }
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new StatusShapeError(`${path}: not an object`)
  return value as Record<string, unknown>
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new StatusShapeError(`${path}: not a string`)
  return value
}

function number(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new StatusShapeError(`${path}: not a number ≥ 0`)
  return value
}

function count(value: unknown, path: string): number {
  const n = number(value, path)
  if (!Number.isInteger(n)) throw new StatusShapeError(`${path}: not a whole number`)
  return n
}

function rate(value: unknown, path: string): number {
  const n = number(value, path)
  if (n > 1) throw new StatusShapeError(`${path}: a rate above 1`)
  return n
}

function date(value: unknown, path: string): Date {
  const d = new Date(string(value, path))
  if (Number.isNaN(d.getTime())) throw new StatusShapeError(`${path}: not an ISO date`)
  return d
}

/** Only http(s) URLs: the tray hands them to the desktop's opener. */
function httpUrl(value: unknown, path: string): string {
  const text = string(value, path)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new StatusShapeError(`${path}: not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new StatusShapeError(`${path}: not an http(s) URL`)
  return text
}

function nullable<T>(value: unknown, path: string, parse: (v: unknown, p: string) => T): T | null {
  return value === null ? null : parse(value, path)
}
