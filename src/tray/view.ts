// What the tray shows, as a pure function of what it knows: the client child's process state
// and the last status.json it read. Kept apart from the helper and the child so the rules
// (which icon, which words) are tested without a display.

import type { ClientState } from '../lib/client-state.js'
import type { ClientProcessState } from './client-process.js'
import type { ClientStatus } from './status.js'

/** The four icons. */
export type IconState = 'measuring' | 'waiting' | 'stopped' | 'error'

export interface TrayView {
  icon: IconState
  /** The first (disabled) menu line: the state in words. */
  headline: string
  tooltip: string
  lastRound: string
  today: string
  /** The toggle offers Stop (the child runs) or Start. */
  running: boolean
  /** The status page is the client's: only there while the child runs. */
  statusPageEnabled: boolean
  myResultsUrl: string | null
}

export interface ViewInput {
  client: ClientProcessState
  /** The last status.json read; kept after the child exits for the last round and today's rate. */
  status: ClientStatus | undefined
  /** Why the last read of status.json failed, while it has not succeeded since. */
  statusError: string | undefined
  now: Date
}

/** Menu lines longer than this are cut (the tooltip has more): GTK and Windows menus grow to fit the text. */
export const MAX_LINE = 56
const MAX_TOOLTIP = 200

const ICON_OF_CLIENT_STATE: Record<ClientState, IconState> = {
  starting: 'waiting',
  measuring: 'measuring',
  waiting: 'waiting',
  stopping: 'stopped',
  stopped: 'stopped',
  error: 'error',
}

export function trayView({ client, status, statusError, now }: ViewInput): TrayView {
  const { icon, headline } = stateOf(client, status, statusError)
  const running = client.kind === 'running'
  return {
    icon,
    headline: cut(headline),
    tooltip: cut(`punchr: ${headline}`, MAX_TOOLTIP),
    lastRound: cut(lastRoundLine(status, now)),
    today: cut(todayLine(status)),
    running,
    statusPageEnabled: running,
    myResultsUrl: status?.myResultsUrl ?? null,
  }
}

function stateOf(
  client: ClientProcessState,
  status: ClientStatus | undefined,
  statusError: string | undefined,
): { icon: IconState; headline: string } {
  switch (client.kind) {
    case 'idle':
      return { icon: 'stopped', headline: 'Stopped' }
    case 'stopping':
      return { icon: 'stopped', headline: 'Stopping (reporting the running round)' }
    case 'exited':
      if (client.requested || client.code === 0) return { icon: 'stopped', headline: 'Stopped' }
      return { icon: 'error', headline: `Error: ${client.lastError ?? exitText(client)}` }
    case 'running': {
      // status.json of an earlier child says nothing about this one.
      const current = status !== undefined && status.startedAt >= client.since ? status : undefined
      if (current === undefined) {
        const why = statusError === undefined ? '' : ` (status: ${statusError})`
        return { icon: 'waiting', headline: `Starting${why}` }
      }
      const word = current.state[0]!.toUpperCase() + current.state.slice(1)
      const detail = current.detail.trim()
      return {
        icon: ICON_OF_CLIENT_STATE[current.state],
        headline: detail === '' ? word : `${word}: ${detail}`,
      }
    }
  }
}

function exitText(client: Extract<ClientProcessState, { kind: 'exited' }>): string {
  return client.signal !== null
    ? `the client was killed by ${client.signal}`
    : `the client exited with code ${client.code}`
}

/** "Last: SUCCESS over TCP, 2 min ago". */
export function lastRoundLine(status: ClientStatus | undefined, now: Date): string {
  const round = status?.lastRound
  if (round === undefined || round === null) return 'Last: no round yet'
  const over = round.transport === null ? '' : ` over ${round.transport.toUpperCase()}`
  return `Last: ${round.outcome}${over}, ${ago(round.finishedAt, now)}`
}

/** "Today: 7 of 9 succeeded (78 %)". */
export function todayLine(status: ClientStatus | undefined): string {
  const today = status?.today
  if (today === undefined || today.rounds === 0) return 'Today: no rounds yet'
  const rate = today.successRate === null ? '' : ` (${Math.round(today.successRate * 100)} %)`
  return `Today: ${today.successes} of ${today.rounds} succeeded${rate}`
}

/** "just now", "1 min ago", "5 min ago", "3 h ago", or the date. */
export function ago(then: Date, now: Date): string {
  const seconds = Math.max(0, (now.getTime() - then.getTime()) / 1000)
  if (seconds < 45) return 'just now'
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes} min ago`
  const hours = Math.round(minutes / 60)
  if (hours < 24) return `${hours} h ago`
  return `on ${then.toISOString().slice(0, 10)}`
}

function cut(text: string, max = MAX_LINE): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}
