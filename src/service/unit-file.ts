// The text of a punchr unit file. Pure: everything it needs is in the spec, so tests render
// units from literals and `--dry-run` prints exactly what install would write. Why each
// sandboxing setting is there (and why some are not) is in docs/SERVICES.md.
import { DESCRIPTIONS, type ServiceCommand } from './commands.js'
import { type ExecArg, execLine, unitPathValue } from './exec-quote.js'
import { API_KEY_CREDENTIAL, type ServiceLayout } from './layout.js'

/** The first line of every unit punchr writes; install and uninstall touch no other unit. */
export const UNIT_MARKER = '# Written by punchr service install.'

export function isPunchrUnit(text: string): boolean {
  return text.startsWith(UNIT_MARKER)
}

export interface UnitSpec {
  command: ServiceCommand
  layout: ServiceLayout
  /** The whole command line: Node, bin/punchr.js, the command and its flags. */
  execStart: readonly ExecArg[]
  /** punchr's version, for the header. */
  version: string
  /** Documentation= URL: this installation's docs/SERVICES.md. */
  documentation: string
}

/**
 * Exit status of punchr for a configuration or key problem (a wrong flag; a client whose API key
 * the server refuses): restarting cannot fix it.
 */
const CONFIG_ERROR_EXIT = 2
const RESTART_SEC = 10

export function renderUnit({ command, layout, execStart, version, documentation }: UnitSpec): string {
  const lines = [
    `${UNIT_MARKER} punchr service uninstall removes it; install replaces it only while this line stays first.`,
    `# punchr ${version}. Change settings with 'systemctl${layout.scope === 'user' ? ' --user' : ''} edit ${layout.unitName}' (a drop-in that survives reinstalling).`,
    '',
    '[Unit]',
    `Description=${DESCRIPTIONS[command]}`,
    `Documentation=${documentation.replaceAll('%', '%%')}`,
    // Hosts, the server and the honeypot all need addresses to listen on and a route out.
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${execLine(execStart)}`,
    `WorkingDirectory=${unitPathValue(layout.stateDir)}`,
    'Environment=PUNCHR_LOG_LEVEL=info',
    // Optional ('-'): secrets such as DATABASE_URL, kept out of this world-readable file.
    `EnvironmentFile=-${unitPathValue(layout.envFile)}`,
    'Restart=on-failure',
    `RestartSec=${RESTART_SEC}`,
    `RestartPreventExitStatus=${CONFIG_ERROR_EXIT}`,
    ...(layout.scope === 'system' ? systemIdentity(layout) : userIdentity(layout)),
    '',
    ...sandbox(layout),
    '',
    '[Install]',
    `WantedBy=${layout.scope === 'system' ? 'multi-user.target' : 'default.target'}`,
    '',
  ]
  return lines.join('\n')
}

/** A throw-away user that owns nothing but the unit's StateDirectory= (and its credentials). */
function systemIdentity(layout: ServiceLayout): string[] {
  return [
    'DynamicUser=yes',
    `StateDirectory=${unitPathValue(layout.stateDirectory!)}`,
    'StateDirectoryMode=0700',
    ...(layout.client === undefined
      ? []
      : [`LoadCredential=${API_KEY_CREDENTIAL}:${unitPathValue(layout.client.apiKeySource)}`]),
  ]
}

/** The user's own identity; its files are in the user's XDG folders, made before the unit starts. */
function userIdentity(layout: ServiceLayout): string[] {
  return layout.writablePaths.map((path) => `ReadWritePaths=-${unitPathValue(path)}`)
}

function sandbox(layout: ServiceLayout): string[] {
  const system = layout.scope === 'system'
  return [
    '# Sandboxing (docs/SERVICES.md says why each line is here).',
    'UMask=0077',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    // A user manager can only build the mount namespaces below inside a user namespace.
    'PrivateUsers=yes',
    'ProtectSystem=strict',
    // A user unit keeps its files in the user's home: hidden would mean unusable.
    `ProtectHome=${system ? 'yes' : 'read-only'}`,
    'PrivateTmp=yes',
    'PrivateMounts=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    // invisible hides other users' processes; the client still reads /proc/net/route.
    'ProtectProc=invisible',
    // IP for everything; AF_NETLINK for the interface list (os.networkInterfaces);
    // AF_UNIX for the resolver (nscd, systemd-resolved) and the journal.
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    'RestrictNamespaces=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'RemoveIPC=yes',
    'KeyringMode=private',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    // @resources stays allowed: Node raises its open-files limit at start (setrlimit), and a
    // honeypot with 1000 connections needs more than the default 1024.
    'SystemCallFilter=~@privileged',
    'SystemCallErrorNumber=EPERM',
    '# MemoryDenyWriteExecute= stays off: V8 compiles JavaScript to machine code in memory it',
    '# writes and then executes, which that setting forbids (Node would crash at start).',
  ]
}
