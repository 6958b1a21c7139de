// Opens a URL in the desktop's browser: xdg-open, open, or `start` through cmd. The
// environment variable PUNCHR_TRAY_OPENER names another program (the URL is its one
// argument): a particular browser, or in the tests a recorder of what would be opened.
import { spawn } from 'node:child_process'
import type { Logger } from '../lib/logger.js'

export const OPENER_ENV = 'PUNCHR_TRAY_OPENER'

export function openerCommand(
  url: string,
  platform: NodeJS.Platform,
  env: Record<string, string | undefined>,
): { command: string; args: string[] } {
  const chosen = env[OPENER_ENV]
  if (chosen !== undefined && chosen !== '') return { command: chosen, args: [url] }
  if (platform === 'darwin') return { command: 'open', args: [url] }
  // `start` is a cmd built-in; its first quoted argument is a window title, hence the "".
  if (platform === 'win32') return { command: 'cmd', args: ['/c', 'start', '""', url.replaceAll('&', '^&')] }
  return { command: 'xdg-open', args: [url] }
}

/** Starts the opener and lets it run on its own; a failure to start is logged, not thrown. */
export function openUrl(
  url: string,
  platform: NodeJS.Platform,
  env: Record<string, string | undefined>,
  log: Logger,
): void {
  const { command, args } = openerCommand(url, platform, env)
  const child = spawn(command, args, {
    env: env as NodeJS.ProcessEnv,
    stdio: 'ignore',
    detached: platform !== 'win32',
    windowsHide: true,
  })
  child.once('error', (err) => log.warn({ err, command }, 'could not open the browser'))
  child.once('exit', (code) => {
    if (code !== 0) log.warn({ command, code }, 'the browser opener failed')
  })
  child.unref()
  // The origin only: the API key page's path is its secret token.
  log.info({ command, origin: new URL(url).origin }, 'opening a URL')
}
