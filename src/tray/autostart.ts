// "Launch on login": one file per platform that the desktop reads at login, written and
// removed by the tray; the checkbox is whether the file exists. Linux: an XDG autostart entry;
// macOS: a LaunchAgent; Windows: a command file in the user's Startup folder.
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

type Env = Record<string, string | undefined>

export const LAUNCH_AGENT_LABEL = 'punchr.tray'

export interface AutostartFile {
  path: string
  content: string
}

/** Where the autostart file of `platform` lives, and what it holds to run `command`. */
export function autostartFile(
  platform: NodeJS.Platform,
  env: Env,
  command: readonly string[],
): AutostartFile {
  const home = nonEmpty(env.HOME) ?? nonEmpty(env.USERPROFILE) ?? homedir()
  switch (platform) {
    case 'darwin':
      return {
        path: join(home, 'Library', 'LaunchAgents', `${LAUNCH_AGENT_LABEL}.plist`),
        content: launchAgentPlist(LAUNCH_AGENT_LABEL, command),
      }
    case 'win32': {
      const appData = nonEmpty(env.APPDATA) ?? join(home, 'AppData', 'Roaming')
      return {
        path: join(appData, 'Microsoft', 'Windows', 'Start Menu', 'Programs', 'Startup', 'punchr-tray.cmd'),
        content: startupCmd(command),
      }
    }
    default: {
      const config = nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, '.config')
      return { path: join(config, 'autostart', 'punchr-tray.desktop'), content: desktopEntry(command) }
    }
  }
}

export function isEnabled(file: AutostartFile): boolean {
  return existsSync(file.path)
}

export async function enable(file: AutostartFile): Promise<void> {
  await mkdir(dirname(file.path), { recursive: true })
  await writeFile(file.path, file.content, { mode: 0o644 })
}

export async function disable(file: AutostartFile): Promise<void> {
  await rm(file.path, { force: true })
}

/** An XDG autostart entry (Desktop Entry Specification 1.5). */
export function desktopEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.5',
    'Name=punchr',
    'Comment=Measures libp2p hole punching (punchr tray)',
    `Exec=${command.map(desktopExecArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n')
}

/**
 * One Exec argument: quoted when it holds anything but safe characters, with `"`, `` ` ``,
 * `$` and `\` escaped inside the quotes; `%` doubled (field codes); then the string-value
 * escape of the whole key doubles each backslash again.
 */
function desktopExecArg(arg: string): string {
  const percent = arg.replaceAll('%', '%%')
  const quoted = /^[A-Za-z0-9_@%+=:,./-]+$/.test(percent)
    ? percent
    : `"${percent.replace(/["`$\\]/g, (c) => `\\${c}`)}"`
  return quoted.replaceAll('\\', '\\\\')
}

/** A LaunchAgent that starts the tray at login (RunAtLoad) and does not restart it after Quit. */
export function launchAgentPlist(label: string, command: readonly string[]): string {
  const args = command.map((arg) => `    <string>${xml(arg)}</string>`).join('\n')
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(label)}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <false/>
  <key>ProcessType</key>
  <string>Interactive</string>
</dict>
</plist>
`
}

/** A command file for the Startup folder; `start ""` returns at once, /min keeps its window out of the way. */
export function startupCmd(command: readonly string[]): string {
  const quoted = command.map((arg) => `"${arg.replaceAll('%', '%%').replaceAll('"', '""')}"`).join(' ')
  return `@echo off\r\nstart "" /min ${quoted}\r\n`
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
