import { ConfigError } from '../lib/errors.js'
import { boolFlag, parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import { VERSION } from '../lib/version.js'
import { parseServiceCommand, SERVICE_COMMANDS } from '../service/commands.js'
import { installService, type ServiceContext, uninstallService } from '../service/install.js'
import { runningProgram } from '../service/program.js'
import { runSystemctl } from '../service/systemctl.js'
import type { Command } from './main.js'

const serviceFlags = {
  user: boolFlag(
    'user',
    'A user unit (~/.config/systemd/user, run by your own service manager) instead of a system unit (/etc/systemd/system, run as a throw-away user)',
    false,
  ),
  name: stringFlag('name', 'Unit name (default punchr-<command>.service)', ''),
  unitDir: stringFlag(
    'unit-dir',
    'Folder of the unit file (default: the one systemd reads for --user or not)',
    '',
  ),
  apiKeyFile: stringFlag(
    'api-key-file',
    'client: the file holding the API key (system: /etc/punchr/api.key, handed over with LoadCredential=; --user: where punchr login stores it)',
    '',
  ),
  dryRun: boolFlag('dry-run', 'install: print the unit, write nothing, run nothing', false),
  start: boolFlag(
    'start',
    'Run systemctl: install: daemon-reload and enable --now; uninstall: disable --now and daemon-reload (--no-start: only print those commands)',
    true,
  ),
  force: boolFlag('force', 'Replace or remove a unit file that punchr did not write', false),
}

const USAGE = `punchr service install|uninstall ${SERVICE_COMMANDS.join('|')} [--user] [--name <unit>] [--dry-run] [--no-start] [-- <flags for the command>]`

/**
 * `punchr service install|uninstall <command>`: a systemd unit running a punchr command, with
 * the flags after `--`, sandboxed (docs/SERVICES.md).
 */
export const runService: Command = async (argv, env) => {
  const separator = argv.indexOf('--')
  const own = separator === -1 ? argv : argv.slice(0, separator)
  const commandArgs = separator === -1 ? [] : argv.slice(separator + 1)
  const { values, positionals, help } = parseFlags('service', serviceFlags, own, env)
  const [action, word, ...extra] = positionals
  if (help || action === undefined) {
    process.stdout.write(renderHelp('service', USAGE, serviceFlags))
    return help ? 0 : 2
  }
  if (action !== 'install' && action !== 'uninstall')
    throw new ConfigError(`unknown action '${action}'; usage: ${USAGE}`)
  const command = parseServiceCommand(word)
  if (extra.length > 0)
    throw new ConfigError(`unexpected '${extra[0]}': flags for punchr ${command} go after '--'`)
  const ctx: ServiceContext = {
    env,
    program: runningProgram(),
    version: VERSION,
    systemctl: runSystemctl,
    say: (line) => process.stdout.write(`${line}\n`),
  }
  const where = {
    command,
    scope: values.user ? ('user' as const) : ('system' as const),
    unitName: values.name,
    unitDir: values.unitDir,
    apiKeyFile: values.apiKeyFile,
  }
  if (action === 'uninstall') {
    if (commandArgs.length > 0) throw new ConfigError("uninstall takes no flags after '--'")
    await uninstallService({ ...where, force: values.force, stop: values.start }, ctx)
    return 0
  }
  await installService(
    { ...where, commandArgs, dryRun: values.dryRun, start: values.start, force: values.force },
    ctx,
  )
  return 0
}
