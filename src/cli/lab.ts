import { formatAddressTable } from '../lab/address-table.js'
import { cleanLabs } from '../lab/clean.js'
import { assertLabAvailable } from '../lab/preflight.js'
import { loadScenario, shippedScenarios } from '../lab/scenario-file.js'
import { upLabNetwork } from '../lab/topology.js'
import { ConfigError } from '../lib/errors.js'
import { boolFlag, parseFlags, renderHelp } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

const labFlags = {
  force: boolFlag('force', 'lab clean: also remove labs whose owner process is still running', false),
}

const USAGE = `punchr lab up <scenario> | punchr lab clean [--force]

  up <scenario>   bring a scenario's network up (a file, or a shipped scenario:
                  ${shippedScenarios().join(', ')}), print its address table, wait for Ctrl-C, tear down
  clean           remove namespaces and interfaces that labs left behind, and kill their processes

Linux and root only. See docs/LAB.md.`

/** `punchr lab up|clean`: the NAT lab's network (docs/LAB.md). */
export const runLab: Command = async (argv, env) => {
  const { values, positionals, help } = parseFlags('lab', labFlags, argv, env)
  const [action, ...args] = positionals
  if (help || action === undefined) {
    process.stdout.write(renderHelp('lab', USAGE, labFlags))
    return help ? 0 : 2
  }
  if (action === 'up') {
    if (args.length !== 1) throw new ConfigError(`lab up needs exactly one scenario; usage: ${USAGE}`)
    return up(args[0]!)
  }
  if (action === 'clean') {
    if (args.length !== 0) throw new ConfigError('lab clean takes no arguments')
    return clean(values.force)
  }
  throw new ConfigError(`unknown action '${action}'; usage: ${USAGE}`)
}

async function up(scenarioArg: string): Promise<number> {
  assertLabAvailable()
  const scenario = await loadScenario(scenarioArg)
  const lab = await upLabNetwork(scenario)
  // Registered before anything else can go wrong, so Ctrl-C from here on is ours to handle.
  const signal = untilSignal()
  const first = lab.nodes[0]
  process.stdout.write(
    `${formatAddressTable(lab)}\n\n` +
      `up in ${Math.round(lab.upMs)} ms. Run a command in a node with ` +
      `\`ip netns exec <namespace> <command>\`${first === undefined ? '' : `, e.g. ip netns exec ${first.netns} bash`}.\n` +
      'Press Ctrl-C to tear the lab down.\n',
  )
  // Signal handlers do not keep Node's event loop alive, and nothing else would while we wait.
  const keepAlive = setInterval(() => undefined, 1 << 30)
  try {
    logger('lab').info({ signal: await signal, id: lab.id }, 'tearing down')
  } finally {
    clearInterval(keepAlive)
  }
  const started = performance.now()
  await lab.down()
  process.stdout.write(`lab ${lab.id} removed in ${Math.round(performance.now() - started)} ms\n`)
  return 0
}

async function clean(force: boolean): Promise<number> {
  assertLabAvailable()
  const report = await cleanLabs({ force })
  const out = (line: string) => process.stdout.write(`${line}\n`)
  if (report.namespaces.length === 0 && report.interfaces.length === 0) out('no lab leftovers found')
  for (const ns of report.namespaces) out(`removed namespace ${ns}`)
  for (const name of report.interfaces) out(`removed interface ${name}`)
  if (report.killedPids.length > 0)
    out(`killed ${report.killedPids.length} process(es): ${report.killedPids.join(' ')}`)
  for (const s of report.skipped)
    out(
      `left lab ${s.id} (scenario ${s.scenario}) alone: its owner, process ${s.pid}, is running; --force removes it`,
    )
  return 0
}
