import { UserFacingError } from '../lib/errors.js'
import { logger } from '../lib/logger.js'
import { VERSION } from '../lib/version.js'
import { applyClientRuntime } from './client-runtime.js'

/** A subcommand: gets its own argv (after the command word) and the environment; returns the exit code. */
export type Command = (argv: string[], env: Record<string, string | undefined>) => Promise<number>

/**
 * Each command's module is imported only when that command runs: a long-running client should
 * not hold the server's, the dashboard's and the database's code in memory (docs/FOOTPRINT.md).
 */
const commands: Record<string, { load: () => Promise<Command>; summary: string }> = {
  up: {
    load: async () => (await import('./up.js')).runUp,
    summary: 'server and honeypot in one process on one database (what npm start runs)',
  },
  server: {
    load: async () => (await import('./server.js')).runServer,
    summary: 'gRPC API (Register, GetAddrInfo, TrackHolePunch), /metrics and /healthz',
  },
  honeypot: {
    load: async () => (await import('./honeypot.js')).runHoneypot,
    summary: 'DHT server that records NATed DCUtR-capable peers for the server to hand out',
  },
  client: {
    load: async () => (await import('./client.js')).runClient,
    summary: 'measurement client: hole punches NATed peers and reports every round (--server, --api-key)',
  },
  login: {
    load: async () => (await import('./login.js')).runLogin,
    summary: "store the client's API key (mode 0600 where punchr client looks for it): login <key>",
  },
  tray: {
    load: async () => (await import('./tray.js')).runTray,
    summary: "tray / menu-bar app: starts and stops the client, shows the last round and today's rate",
  },
  service: {
    load: async () => (await import('./service.js')).runService,
    summary: 'systemd units: service install|uninstall client|server|honeypot|up [--user] [-- flags]',
  },
  keys: {
    load: async () => (await import('./keys.js')).runKeys,
    summary: 'manage API keys: keys add --user <name> | keys list | keys revoke <key>',
  },
  migrate: {
    load: async () => (await import('./migrate.js')).runMigrate,
    summary: 'apply database migrations and exit',
  },
  report: {
    load: async () => (await import('./report.js')).runReport,
    summary:
      'key tables of the campaign (success rate, TCP vs QUIC, by agent, by country): --since, --format md|csv',
  },
  export: {
    load: async () => (await import('./export.js')).runExport,
    summary:
      'research dataset: results, attempts, latencies, peers as --format csv|parquet files in --out DIR',
  },
  archive: {
    load: async () => (await import('./archive.js')).runArchive,
    summary: 'a past month of results out of the database: --month YYYY-MM --out DIR (Parquet)',
  },
  lab: {
    load: async () => (await import('./lab.js')).runLab,
    summary: 'NAT lab (Linux, root): lab up <scenario> | lab clean [--force]',
  },
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
    if (name === 'client') applyClientRuntime()
    const run = await command.load()
    return await run(rest, process.env)
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
