import { formatAddressTable } from '../lab/address-table.js'
import { runCampaign } from '../lab/campaign/campaign.js'
import { cleanLabs } from '../lab/clean.js'
import { assertLabAvailable } from '../lab/preflight.js'
import { loadScenario, shippedScenarios } from '../lab/scenario-file.js'
import { upLabNetwork } from '../lab/topology.js'
import { ConfigError } from '../lib/errors.js'
import { boolFlag, type FlagValues, intFlag, parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import { parseFilterShares } from '../server/protocol-filter.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

const labFlags = {
  force: boolFlag('force', 'lab clean: also remove labs whose owner process is still running', false),
  rounds: intFlag('rounds', "lab run: rounds per client (0 = the scenario's)", 0, 0, 100_000),
  duration: intFlag(
    'duration',
    "lab run: measure for this many seconds instead (0 = the scenario's)",
    0,
    0,
    86_400,
  ),
  retryPairAfter: intFlag(
    'retry-pair-after',
    'lab run: seconds before a client gets a remote it measured again (the server defaults to 600)',
    0,
    0,
    86_400,
  ),
  hostCount: intFlag(
    'host-count',
    'lab run: hosts per punchr client; with one host, back-to-back rounds against one remote can collide with its pending dial (docs/LAB.md)',
    3,
    1,
    64,
  ),
  filterShares: stringFlag(
    'filter-shares',
    "lab run: the server's --filter-shares, e.g. ip6+tcp=40,ip6+quic=40,none=20 to measure IPv6 mostly ('' = the server's default)",
    '',
  ),
  out: stringFlag('out', 'lab run: folder that gets the run folder', './lab-runs'),
  killServerAfter: intFlag(
    'kill-server-after',
    'lab run: fault injection, SIGKILL the server after this many rounds (all clients) and restart it (0 = never)',
    0,
    0,
    86_400,
  ),
}

const USAGE = `punchr lab run <scenario> | punchr lab up <scenario> | punchr lab clean [--force]

  run <scenario>  a measurement campaign: network, relays, punchr server + honeypot, remotes and
                  punchr clients; prints measured outcomes beside the ground truth, keeps results
                  and logs in a run folder, exits 1 when they disagree
  up <scenario>   bring a scenario's network up, print its address table, wait for Ctrl-C, tear down
  clean           remove namespaces and interfaces that labs left behind, and kill their processes

A scenario is a file or a shipped one: ${shippedScenarios().join(', ')}.

Linux and root only. See docs/LAB.md.`

/** `punchr lab up|clean`: the NAT lab's network (docs/LAB.md). */
export const runLab: Command = async (argv, env) => {
  const { values, positionals, help } = parseFlags('lab', labFlags, argv, env)
  const [action, ...args] = positionals
  if (help || action === undefined) {
    process.stdout.write(renderHelp('lab', USAGE, labFlags))
    return help ? 0 : 2
  }
  if (action === 'run') {
    if (args.length !== 1) throw new ConfigError(`lab run needs exactly one scenario; usage: ${USAGE}`)
    return run(args[0]!, values)
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

async function run(scenarioArg: string, flags: FlagValues<typeof labFlags>): Promise<number> {
  assertLabAvailable()
  // A bad value fails here, not once the lab is built and the server refuses to start.
  if (flags.filterShares !== '') parseFilterShares(flags.filterShares)
  const scenario = await loadScenario(scenarioArg)
  const out = (line: string) => process.stdout.write(`${line}\n`)
  const result = await runCampaign(scenario, {
    outDir: flags.out,
    retryPairAfterSeconds: flags.retryPairAfter,
    clientHostCount: flags.hostCount,
    ...(flags.filterShares === '' ? {} : { filterShares: flags.filterShares }),
    ...(flags.rounds > 0 ? { rounds: flags.rounds } : {}),
    ...(flags.duration > 0 ? { durationSeconds: flags.duration } : {}),
    ...(flags.killServerAfter > 0 ? { killServerAfterRounds: flags.killServerAfter } : {}),
    env: { PUNCHR_LOG_LEVEL: process.env.PUNCHR_LOG_LEVEL ?? 'info' },
    onProgress: out,
  })
  out(`\n${result.table}\n`)
  for (const problem of result.verdict.problems) out(`problem: ${problem}`)
  out(`results, logs and the table: ${result.folder.root}`)
  return result.ok ? 0 : 1
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
