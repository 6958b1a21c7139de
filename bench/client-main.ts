// `npm run bench -- --client`: memory and CPU of `punchr client` as volunteers run it, summed
// over its whole process tree, per host count (the default one among them), measured in the
// NAT lab by the campaign runner's /proc sampler:
//   idle  — no remote to measure: the client registers its hosts and asks again every 30 s
//           (its default wait);
//   busy  — cone ↔ cone rounds back to back against js-libp2p remotes (one; three with --leak);
//   rest  — cone ↔ cone rounds against js-libp2p remotes (one; three with --leak) that the
//           server hands out again only after 12 s: the hosts rest after 4 s of that, and one
//           wakes for each round that follows.
// Each phase runs in two setups, one run each:
//   before — as a volunteer's client ran until the footprint work: the JavaScript launcher
//            (bin/punchr.js) started by the machine's Node, which stays beside the Node 22 child,
//            and Node's default heap and allocator settings;
//   after  — the shell launcher (bin/punchr, exec) and the client's runtime settings
//            (src/cli/client-runtime.ts);
//   awake  — as after, but the hosts never rest (--rest-after-idle 0): what resting saves.
// `--leak` instead runs the default setup long (an hour idle, 500 busy rounds, 60 rest/wake
// rounds) and compares the first and the last tenth of its RSS samples.
// Root and Linux only (network namespaces). Writes its section of docs/benchmarks.md.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLIENT_RUNTIME_ENV } from '../src/cli/client-runtime.js'
import { DEFAULT_HOST_COUNT, NOT_FOUND_WAIT_MS, REST_AFTER_IDLE_MS } from '../src/client/constants.js'
import { RESTED_MESSAGE, WOKE_MESSAGE } from '../src/client/round-loop.js'
import { type CampaignOptions, type CampaignResult, runCampaign } from '../src/lab/campaign/campaign.js'
import type { ResourceUsage } from '../src/lab/campaign/resources.js'
import { labUnavailableReason } from '../src/lab/preflight.js'
import { validateScenario } from '../src/lab/scenario.js'
import { benchFlags, positiveNumber } from './args.js'
import { writeDocs } from './report.js'

const HEADING = '## Client: memory and CPU'
const LEAK_HEADING = '## Client: leak check'
const DEFAULT_HOST_COUNTS = [1, DEFAULT_HOST_COUNT, 2 * DEFAULT_HOST_COUNT]
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The rest phase: the server hands the remote out again after this long… */
const REST_PHASE_PAIR_GAP_S = 12
/** …and the hosts rest after this long without one. */
const REST_PHASE_REST_AFTER_S = 4
const USAGE = `npm run bench -- --client [--idle <s>] [--rounds <n>] [--cycles <n>] [--hosts <n[,n…]>] [--setups <s,…>] [--phases <p,…>] [--leak] [--no-write]

  --idle <s>       seconds of the idle phase (default 120; with --leak 3600)
  --rounds <n>     cone ↔ cone rounds of the busy phase (default 40; with --leak 500)
  --cycles <n>     rounds of the rest phase (default 20; with --leak 60): all must fit in the
                   10 minutes a remote is handed out for
  --hosts <n,…>    hosts per client, one run of each phase per setup
                   (default ${DEFAULT_HOST_COUNTS.join(',')}; ${DEFAULT_HOST_COUNT} is the client's default)
  --setups <s,…>   before (JavaScript launcher on the machine's Node, Node's defaults),
                   after (shell launcher, the client's runtime settings),
                   awake (after, with hosts that never rest); default before,after
  --phases <p,…>   idle, busy, rest (default idle,busy; with --leak all three)
  --leak           one long phase each of the after setup at ${DEFAULT_HOST_COUNT} hosts
  --no-write       do not update docs/benchmarks.md`

const values = benchFlags(
  {
    client: { type: 'boolean' },
    idle: { type: 'string' },
    rounds: { type: 'string' },
    cycles: { type: 'string' },
    hosts: { type: 'string' },
    setups: { type: 'string', default: 'before,after' },
    phases: { type: 'string' },
    leak: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
  USAGE,
)
const unavailable = labUnavailableReason()
if (unavailable !== undefined) {
  console.error(`the client benchmark runs in the NAT lab: ${unavailable}`)
  process.exit(2)
}
const leak = values.leak
const idleSeconds = positiveNumber(values.idle, leak ? 3600 : 120, '--idle', USAGE)
const rounds = Math.round(positiveNumber(values.rounds, leak ? 500 : 40, '--rounds', USAGE))
const cycles = Math.round(positiveNumber(values.cycles, leak ? 60 : 20, '--cycles', USAGE))
/**
 * A server hands out a remote for 10 minutes after the honeypot recorded it (docs/PROTOCOL.md,
 * "Allocation"), and the lab's remotes are recorded once, at the start. The leak check's 500
 * busy rounds must fit in that: three remotes share them, and each remote's fixed dial port
 * meets a returning client host's port (TCP TIME_WAIT) a third as often. Its rest phase, a
 * round every 15–20 s per remote, fits 60 rounds only with three remotes too.
 */
const remoteCount = leak ? 3 : 1
const hostCounts = (values.hosts ?? (leak ? String(DEFAULT_HOST_COUNT) : DEFAULT_HOST_COUNTS.join(',')))
  .split(',')
  .map((n) => Math.round(positiveNumber(n, DEFAULT_HOST_COUNT, '--hosts', USAGE)))

/** The package's `punchr` command (bin/punchr, a POSIX sh script that execs Node 22). */
const SHELL_LAUNCHER = { node: '/bin/sh', script: join(ROOT, 'bin', 'punchr') }
type SetupName = 'before' | 'after' | 'awake'
const SETUPS: Record<
  SetupName,
  { describe: string; options: Required<Pick<CampaignOptions, 'clientCli' | 'env'>> }
> = {
  before: {
    describe: "bin/punchr.js on the machine's Node (it stays beside the Node 22 child), Node's defaults",
    options: {
      clientCli: { node: machineNode(), script: join(ROOT, 'bin', 'punchr.js') },
      env: { [CLIENT_RUNTIME_ENV]: 'node' },
    },
  },
  after: {
    describe: "bin/punchr (sh, exec) and the client's runtime settings",
    options: { clientCli: SHELL_LAUNCHER, env: {} },
  },
  awake: {
    describe: 'as after, but the hosts never rest (`--rest-after-idle 0`)',
    options: {
      clientCli: SHELL_LAUNCHER,
      env: { PUNCHR_CLIENT_REST_AFTER_IDLE: '0' },
    },
  },
}
const setups = (leak ? 'after' : values.setups).split(',').map((name) => {
  if (!(name in SETUPS)) {
    console.error(`--setups: unknown setup '${name}'\n\n${USAGE}`)
    process.exit(2)
  }
  return name as SetupName
})

const outDir = mkdtempSync(join(tmpdir(), 'punchr-client-bench-'))
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }))
const home = (name: string, role: 'client' | 'remote') => ({
  name: `home-${name}`,
  nat: 'cone',
  hosts: [{ name, role }],
})
/** The client's home and the remotes' homes of a phase that measures rounds. */
const roundsHomes = [
  home('client', 'client'),
  ...Array.from({ length: remoteCount }, (_, i) => home(`remote-${i + 1}`, 'remote')),
]

const PHASES = ['idle', 'busy', 'rest']
const phases = (values.phases ?? (leak ? PHASES.join(',') : 'idle,busy')).split(',')
if (phases.length === 0 || phases.some((p) => !PHASES.includes(p))) {
  console.error(`--phases: any of ${PHASES.join(', ')}\n\n${USAGE}`)
  process.exit(2)
}

/** A phase that measured rounds: its figures, and how many rounds the lab agreed with. */
interface RoundsRun {
  usage: ResourceUsage
  stored: number
  agree: number
}

interface PhaseRun {
  setup: SetupName
  hosts: number
  idle?: ResourceUsage
  busy?: RoundsRun
  rest?: RoundsRun & { rests: number; wakes: number }
}

const runs: PhaseRun[] = []
for (const hosts of hostCounts)
  for (const setup of setups) {
    const { clientCli, env } = SETUPS[setup].options
    const options: CampaignOptions = {
      outDir,
      clientHostCount: hosts,
      env: { PUNCHR_LOG_LEVEL: 'warn', ...env },
      clientCli,
    }
    const run: PhaseRun = { setup, hosts }
    if (phases.includes('idle')) {
      console.log(`${setup}: idle phase, one client with ${hosts} hosts and no remote, ${idleSeconds} s …`)
      const idle = await runCampaign(
        validateScenario({
          name: `bench-client-idle-${setup}-${hosts}`,
          homes: [home('client', 'client')],
          durationSeconds: idleSeconds,
        }),
        { ...options, noRemoteWaitSeconds: NOT_FOUND_WAIT_MS / 1000 },
      )
      run.idle = need(idle.resources['client-client'], `idle client with ${hosts} hosts (${setup})`)
    }
    if (phases.includes('busy')) {
      console.log(`${setup}: busy phase, ${rounds} cone ↔ cone rounds with ${hosts} hosts …`)
      const busy = await runCampaign(
        validateScenario({
          name: `bench-client-busy-${setup}-${hosts}`,
          homes: roundsHomes,
          rounds,
        }),
        options,
      )
      run.busy = roundsRun(busy, rounds, `${hosts} hosts (${setup}), busy phase`)
    }
    if (phases.includes('rest')) {
      console.log(
        `${setup}: rest phase, ${cycles} cone ↔ cone rounds with ${hosts} hosts, a remote handed out again after ${REST_PHASE_PAIR_GAP_S} s …`,
      )
      const rest = await runCampaign(
        validateScenario({
          name: `bench-client-rest-${setup}-${hosts}`,
          homes: roundsHomes,
          rounds: cycles,
        }),
        {
          ...options,
          // The rest and wake lines are info.
          env: { ...options.env, PUNCHR_LOG_LEVEL: 'info' },
          retryPairAfterSeconds: REST_PHASE_PAIR_GAP_S,
          // The awake setup keeps its hosts up between the rounds: what resting costs per round.
          ...(setup === 'awake' ? {} : { restAfterIdleSeconds: REST_PHASE_REST_AFTER_S }),
        },
      )
      const log = readFileSync(join(rest.folder.logs, 'client-client.log'), 'utf8').split('\n')
      const count = (message: string) => log.filter((line) => line.includes(message)).length
      run.rest = {
        ...roundsRun(rest, cycles, `${hosts} hosts (${setup}), rest phase`),
        rests: count(RESTED_MESSAGE),
        wakes: count(WOKE_MESSAGE),
      }
    }
    runs.push(run)
  }

const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU'
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
const measured = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version} (the machine's: ${machineNodeVersion()}); commit ${commit}.`
const command = `sudo npm run bench -- ${process.argv.slice(2).join(' ')}`
const percent = (p: number | undefined) => (p === undefined ? '–' : `${p.toFixed(2)} %`)
const mib = (n: number) => `${n.toFixed(0)} MiB`
const section = leak ? leakSection() : footprintSection()
console.log(`\n${section}`)
if (!values['no-write']) console.log(`written to ${writeDocs(section, leak ? LEAK_HEADING : HEADING)}`)

function footprintSection(): string {
  const row = (r: PhaseRun, phase: string, u: ResourceUsage, perRound: string) =>
    `| ${r.hosts} | ${r.setup} | ${phase} | ${u.wallSeconds.toFixed(0)} s | ${mib(u.rssMeanMiB)} | ${mib(u.rssPeakMiB)} | ${percent(u.cpuPercent)} | ${percent(u.steadyCpuPercent)} | ${perRound} |`
  const ratios = hostCounts.flatMap((hosts) => {
    const before = runs.find((r) => r.hosts === hosts && r.setup === 'before')
    const after = runs.find((r) => r.hosts === hosts && r.setup === 'after')
    if (before === undefined || after === undefined) return []
    const ratio = (a: number, b: number | undefined) =>
      b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`
    const idleCpu = (u: ResourceUsage) => u.steadyCpuPercent ?? u.cpuPercent
    const cells = [
      ...(after.idle === undefined || before.idle === undefined
        ? ['–', '–', '–']
        : [
            ratio(after.idle.rssMeanMiB, before.idle.rssMeanMiB),
            ratio(after.idle.rssPeakMiB, before.idle.rssPeakMiB),
            ratio(idleCpu(after.idle), idleCpu(before.idle)),
          ]),
      ...(after.busy === undefined || before.busy === undefined
        ? ['–', '–', '–']
        : [
            ratio(after.busy.usage.rssMeanMiB, before.busy.usage.rssMeanMiB),
            ratio(after.busy.usage.rssPeakMiB, before.busy.usage.rssPeakMiB),
            ratio(perRoundMs(after.busy), perRoundMs(before.busy)),
          ]),
    ]
    return [`| ${hosts} | ${cells.join(' | ')} |`]
  })
  const afterIdle = runs.filter((r) => r.setup === 'after' && r.idle !== undefined)
  const perHost =
    afterIdle.length > 1
      ? ` Per host (after), from ${afterIdle[0]!.hosts} to ${afterIdle.at(-1)!.hosts} hosts: idle RSS grows by ${((afterIdle.at(-1)!.idle!.rssMeanMiB - afterIdle[0]!.idle!.rssMeanMiB) / Math.max(1, afterIdle.at(-1)!.hosts - afterIdle[0]!.hosts)).toFixed(2)} MiB a host.`
      : ''
  return `${HEADING}

Command: \`${command}\` (NAT lab: root, Linux). Source: \`bench/client-main.ts\`, sampler \`src/lab/campaign/resources.ts\`; what the figures are made of: [FOOTPRINT.md](FOOTPRINT.md).

${measured} One \`punchr client\` (TCP and QUIC, the default) with ${hostCounts.join(', ')} hosts (\`--host-count\`; ${DEFAULT_HOST_COUNT} is the default) behind a cone NAT, sampled from /proc once a second and **summed over its process tree** (RSS mean of the samples; peak = the sum of each process's VmHWM; CPU = user + system time over the sampled wall time, in % of one core). Setups: ${setups.map((name) => `**${name}** — ${SETUPS[name].describe}`).join('; ')}. Idle: no remote exists, so the client registers its hosts and asks GetAddrInfo again every ${NOT_FOUND_WAIT_MS / 1000} s (its default); after ${REST_AFTER_IDLE_MS / 1000} s of that its hosts rest (their connections closed), except in the awake setup. Busy: ${rounds} cone ↔ cone rounds back to back against ${remoteCount === 1 ? 'one js-libp2p remote' : `${remoteCount} js-libp2p remotes`}, start-up included. Rest: ${cycles} cone ↔ cone rounds against ${remoteCount === 1 ? 'one js-libp2p remote' : `${remoteCount} js-libp2p remotes`} that the server hands out again only after ${REST_PHASE_PAIR_GAP_S} s; the hosts rest after ${REST_PHASE_REST_AFTER_S} s without a remote (\`--rest-after-idle ${REST_PHASE_REST_AFTER_S}\`; not in the awake setup) and one wakes for each round. In the lab the relays and observers are js-libp2p nodes that ping every connection every 10 s; their pings are part of the idle CPU.

| hosts | setup | phase | sampled | RSS mean | RSS peak | CPU | CPU after the first 30 s | CPU per round |
|--:|---|---|--:|--:|--:|--:|--:|--:|
${runs
  .flatMap((r) => [
    ...(r.idle === undefined ? [] : [row(r, 'idle', r.idle, '–')]),
    ...(r.busy === undefined
      ? []
      : [
          row(
            r,
            `busy (${r.busy.agree} of ${r.busy.stored} rounds as expected)`,
            r.busy.usage,
            `${perRoundMs(r.busy).toFixed(0)} ms`,
          ),
        ]),
    ...(r.rest === undefined
      ? []
      : [row(r, restPhase(r.rest), r.rest.usage, `${perRoundMs(r.rest).toFixed(0)} ms`)]),
  ])
  .join('\n')}
${
  ratios.length === 0
    ? ''
    : `
After ÷ before, in the same run:

| hosts | idle RSS mean | idle RSS peak | idle CPU after 30 s | busy RSS mean | busy RSS peak | busy CPU per round |
|--:|--:|--:|--:|--:|--:|--:|
${ratios.join('\n')}
`
}
The original Go client's published figures are about 100 MB of memory and 2.5 % CPU.${perHost}
`
}

function leakSection(): string {
  // first tenth, last tenth, last − first, RSS by tenth; dashes for a run too short for them
  const driftCells = (d: ResourceUsage['rssDrift']) =>
    d === undefined
      ? ['–', '–', '–', '–']
      : [
          `${d.firstMiB.toFixed(1)} MiB`,
          `${d.lastMiB.toFixed(1)} MiB`,
          `${(d.lastMiB - d.firstMiB).toFixed(1)} MiB`,
          d.tenthsMiB.map((t) => t.toFixed(0)).join(' '),
        ]
  const row = (r: PhaseRun, phase: string, u: ResourceUsage) =>
    `| ${[r.hosts, phase, `${u.wallSeconds.toFixed(0)} s`, mib(u.rssMeanMiB), mib(u.rssPeakMiB), ...driftCells(u.rssDrift), percent(u.steadyCpuPercent)].join(' | ')} |`
  return `${LEAK_HEADING}

Command: \`${command}\` (NAT lab: root, Linux). Source: \`bench/client-main.ts\`.

${measured} The after setup of the section above (${SETUPS.after.describe}), summed over the process tree, sampled once a second. The rest phase: ${cycles} rounds against ${remoteCount} js-libp2p remotes that the server hands out again only after ${REST_PHASE_PAIR_GAP_S} s each, the hosts resting after ${REST_PHASE_REST_AFTER_S} s without one and waking one by one (the rests and wakes are counted in the table). "First" and "last" are the mean RSS of the first and the last tenth of the samples after the first 30 s: a leak shows as a last tenth above the first, and as tenths that climb one after the other (the mean of each tenth, in MiB, in order).

| hosts | phase | sampled | RSS mean | RSS peak | first tenth | last tenth | last − first | RSS by tenth | CPU after the first 30 s |
|--:|---|--:|--:|--:|--:|--:|--:|---|--:|
${runs
  .flatMap((r) => [
    ...(r.idle === undefined ? [] : [row(r, 'idle', r.idle)]),
    ...(r.busy === undefined
      ? []
      : [row(r, `busy, ${r.busy.stored} rounds (${r.busy.agree} as expected)`, r.busy.usage)]),
    ...(r.rest === undefined ? [] : [row(r, restPhase(r.rest), r.rest.usage)]),
  ])
  .join('\n')}
`
}

/**
 * The figures of a phase of `expected` rounds. They stand even when a round disagrees (LAB.md:
 * one host measuring one js remote back to back now and then loses a TCP round); say so, and
 * fail only a phase that hardly ran.
 */
function roundsRun(result: CampaignResult, expected: number, what: string): RoundsRun {
  if (!result.ok) console.error(`${what} disagreed with the lab:\n${result.verdict.problems.join('\n')}`)
  if (result.verdict.agree < expected / 2) {
    console.error(`${what}: only ${result.verdict.agree} of ${expected} rounds as expected:\n${result.table}`)
    process.exit(1)
  }
  return {
    usage: need(result.resources['client-client'], what),
    stored: result.verdict.rounds.length,
    agree: result.verdict.agree,
  }
}

function restPhase(rest: NonNullable<PhaseRun['rest']>): string {
  return `rest, ${rest.stored} rounds (${rest.agree} as expected; ${rest.rests} rests, ${rest.wakes} wakes)`
}

function perRoundMs(busy: RoundsRun): number {
  return (busy.usage.cpuSeconds / Math.max(1, busy.stored)) * 1000
}

function need(usage: ResourceUsage | undefined, what: string): ResourceUsage {
  if (usage === undefined) {
    console.error(`no resource figures for the ${what}: see the run folder logs`)
    process.exit(1)
  }
  return usage
}

/** The machine's own Node (the first `node` on PATH outside this checkout), as a volunteer has it. */
function machineNode(): string {
  const dirs = (process.env.PATH ?? '').split(':').filter((dir) => dir !== '' && !dir.startsWith(ROOT))
  for (const dir of dirs) {
    try {
      execFileSync(join(dir, 'node'), ['--version'])
      return join(dir, 'node')
    } catch {}
  }
  return process.execPath
}

function machineNodeVersion(): string {
  return execFileSync(SETUPS.before.options.clientCli.node, ['--version'], { encoding: 'utf8' }).trim()
}
