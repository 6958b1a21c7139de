import { UserFacingError } from '../lib/errors.js'
import { logger } from '../lib/logger.js'
import { VERSION } from '../lib/version.js'
import { runClient } from './client.js'
import { runExport } from './export.js'
import { runHoneypot } from './honeypot.js'
import { runKeys } from './keys.js'
import { runLab } from './lab.js'
import { runLogin } from './login.js'
import { runMigrate } from './migrate.js'
import { runReport } from './report.js'
import { runServer } from './server.js'
import { runService } from './service.js'
import { runTray } from './tray.js'
import { runUp } from './up.js'

/** A subcommand: gets its own argv (after the command word) and the environment; returns the exit code. */
export type Command = (argv: string[], env: Record<string, string | undefined>) => Promise<number>

const commands: Record<string, { run: Command; summary: string }> = {
  up: {
    run: runUp,
    summary: 'server and honeypot in one process on one database (what npm start runs)',
  },
  server: {
    run: runServer,
    summary: 'gRPC API (Register, GetAddrInfo, TrackHolePunch), /metrics and /healthz',
  },
  honeypot: {
    run: runHoneypot,
    summary: 'DHT server that records NATed DCUtR-capable peers for the server to hand out',
  },
  client: {
    run: runClient,
    summary: 'measurement client: hole punches NATed peers and reports every round (--server, --api-key)',
  },
  login: {
    run: runLogin,
    summary: "store the client's API key (mode 0600 where punchr client looks for it): login <key>",
  },
  tray: {
    run: runTray,
    summary: "tray / menu-bar app: starts and stops the client, shows the last round and today's rate",
  },
  service: {
    run: runService,
    summary: 'systemd units: service install|uninstall client|server|honeypot|up [--user] [-- flags]',
  },
  keys: { run: runKeys, summary: 'manage API keys: keys add --user <name> | keys list | keys revoke <key>' },
  migrate: { run: runMigrate, summary: 'apply database migrations and exit' },
  report: {
    run: runReport,
    summary:
      'key tables of the campaign (success rate, TCP vs QUIC, by agent, by country): --since, --format md|csv',
  },
  export: {
    run: runExport,
    summary:
      'research dataset: results, attempts, latencies, peers as --format csv|parquet files in --out DIR',
  },
  lab: { run: runLab, summary: 'NAT lab (Linux, root): lab up <scenario> | lab clean [--force]' },
}

function usage(): string {
  const lines = [
    `punchr ${VERSION} — measures DCUtR hole punching success between libp2p peers`,
    '',
    'Usage: punchr <command> [flags]',
    '',
    'Commands:',
  ]
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`)
  lines.push(
    '',
    "Run 'punchr <command> --help' for a command's flags; every flag also reads PUNCHR_<COMMAND>_<FLAG>.",
  )
  return lines.join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${usage()}\n`)
    return name === undefined ? 2 : 0
  }
  if (name === 'version' || name === '--version') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const command = commands[name]
  if (command === undefined) {
    process.stderr.write(`punchr: unknown command '${name}'\n\n${usage()}\n`)
    return 2
  }
  try {
    return await command.run(rest, process.env)
  } catch (err) {
    if (err instanceof UserFacingError) {
      process.stderr.write(`punchr ${name}: ${err.message}\n`)
      return 2
    }
    logger('cli').fatal({ err }, `punchr ${name} failed`)
    process.stderr.write(`punchr ${name}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
