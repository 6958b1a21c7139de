// `punchr tray`: the volunteer's tray / menu-bar app (docs/TRAY.md). It runs `punchr client`
// as a child process with the client flags it is given, and reads the child's status.json on
// its --metrics-port.
import { fileURLToPath } from 'node:url'
import { clientFlags } from '../client/config.js'
import { ConfigError } from '../lib/errors.js'
import { boolFlag, intFlag, parseFlags, renderHelp } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import { runTrayApp } from '../tray/app.js'
import { splitArgs } from '../tray/args.js'
import type { Command } from './main.js'

export const trayFlags = {
  start: boolFlag(
    'start',
    'Start measuring when the tray starts (--no-start: wait for "Start measuring")',
    true,
    {
      group: 'Tray',
    },
  ),
  statusInterval: intFlag(
    'status-interval',
    "Seconds between two reads of the client's status.json",
    3,
    1,
    60,
    {
      group: 'Tray',
    },
  ),
  stopGrace: intFlag(
    'stop-grace',
    'Seconds the client has after Stop to report its cancelled round and send its queue before it is killed',
    15,
    1,
    300,
    { group: 'Tray' },
  ),
}

/** bin/punchr.js: the tray runs the client and `punchr login` through it, on this Node. */
const PUNCHR_BIN = fileURLToPath(new URL('../../../bin/punchr.js', import.meta.url))

const USAGE = `punchr tray [tray flags] [client flags] [-- client flags]

The client's flags (punchr client --help) are passed through to the punchr client the tray
starts; everything after -- goes to the client as it is. The tray reads the client's status on
its --metrics-port (12001 unless given; 0 is refused). PUNCHR_TRAY_OPENER names the program
that opens URLs (default: xdg-open, open, start).`

export const runTray: Command = async (argv, env) => {
  const split = splitArgs(argv, trayFlags, clientFlags)
  const { values, positionals, help } = parseFlags('tray', trayFlags, split.tray, env)
  if (help) {
    process.stdout.write(renderHelp('tray', USAGE, trayFlags))
    return 0
  }
  if (positionals.length > 0) throw new ConfigError(`unexpected argument ${positionals[0]} for 'punchr tray'`)
  // Checked here, so a bad client flag is an error at start and not an error icon later.
  const client = parseFlags('client', clientFlags, split.client, env)
  if (client.positionals.length > 0)
    throw new ConfigError(`unexpected argument ${client.positionals[0]} for the client`)
  const metricsPort = client.values.metricsPort
  if (metricsPort === 0)
    throw new ConfigError('the tray reads the client status on --metrics-port: give it a port number, not 0')
  return await runTrayApp({
    node: process.execPath,
    punchrBin: PUNCHR_BIN,
    // Explicit, so that the port the tray reads is the one the client serves whatever the environment says.
    clientArgs: [...split.client, '--metrics-port', String(metricsPort)],
    metricsPort,
    loginArgs: client.values.apiKeyFile === '' ? [] : ['--api-key-file', client.values.apiKeyFile],
    keyOnCommandLine: split.client.some((arg) => arg === '--api-key' || arg.startsWith('--api-key=')),
    startMeasuring: values.start,
    statusIntervalMs: values.statusInterval * 1000,
    stopGraceMs: values.stopGrace * 1000,
    autostartCommand: [process.execPath, PUNCHR_BIN, 'tray', ...withoutApiKey(argv)],
    env,
    platform: process.platform,
    log: logger('tray'),
  })
}

/** The autostart file is not secret (mode 0644): the key stays in the client's key file. */
function withoutApiKey(argv: readonly string[]): string[] {
  return argv.filter(
    (arg, i) => arg !== '--api-key' && argv[i - 1] !== '--api-key' && !arg.startsWith('--api-key='),
  )
}
