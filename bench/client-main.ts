// `npm run bench -- --client`: memory and CPU of `punchr client` as volunteers run it, per host
// count (the default one among them), measured in the NAT lab by the campaign runner's /proc
// sampler:
//   idle  — no remote to measure: the client registers its hosts and asks again every 30 s;
//   busy  — cone ↔ cone rounds back to back against one js-libp2p remote.
// Root and Linux only (network namespaces). Writes the "Client" section of docs/benchmarks.md.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_HOST_COUNT } from '../src/client/constants.js'
import { runCampaign } from '../src/lab/campaign/campaign.js'
import type { ResourceUsage } from '../src/lab/campaign/resources.js'
import { labUnavailableReason } from '../src/lab/preflight.js'
import { validateScenario } from '../src/lab/scenario.js'
import { positiveNumber } from './args.js'
import { writeDocs } from './report.js'

const HEADING = '## Client: memory and CPU'
const DEFAULT_HOST_COUNTS = [1, DEFAULT_HOST_COUNT, 2 * DEFAULT_HOST_COUNT]
const USAGE = `npm run bench -- --client [--idle <s>] [--rounds <n>] [--hosts <n[,n…]>] [--no-write]

  --idle <s>       seconds of the idle phase (default 120)
  --rounds <n>     cone ↔ cone rounds of the busy phase (default 40)
  --hosts <n,…>    hosts per client, one idle and one busy phase each
                   (default ${DEFAULT_HOST_COUNTS.join(',')}; ${DEFAULT_HOST_COUNT} is the client's default)
  --no-write       do not update docs/benchmarks.md`

const { values } = parseArgs({
  options: {
    client: { type: 'boolean' },
    idle: { type: 'string', default: '120' },
    rounds: { type: 'string', default: '40' },
    hosts: { type: 'string', default: DEFAULT_HOST_COUNTS.join(',') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const unavailable = labUnavailableReason()
if (unavailable !== undefined) {
  console.error(`the client benchmark runs in the NAT lab: ${unavailable}`)
  process.exit(2)
}
const idleSeconds = positiveNumber(values.idle, 120, '--idle', USAGE)
const rounds = Math.round(positiveNumber(values.rounds, 40, '--rounds', USAGE))
const hostCounts = values.hosts
  .split(',')
  .map((n) => Math.round(positiveNumber(n, DEFAULT_HOST_COUNT, '--hosts', USAGE)))

const outDir = mkdtempSync(join(tmpdir(), 'punchr-client-bench-'))
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }))
const home = (name: string, role: 'client' | 'remote') => ({
  name: `home-${name}`,
  nat: 'cone',
  hosts: [{ name, role }],
})

interface HostCountRun {
  hosts: number
  idle: ResourceUsage
  busy: ResourceUsage
  stored: number
  agree: number
}

const runs: HostCountRun[] = []
for (const hosts of hostCounts) {
  const options = { outDir, clientHostCount: hosts, env: { PUNCHR_LOG_LEVEL: 'warn' } }
  console.log(`idle phase: one client with ${hosts} hosts and no remote, ${idleSeconds} s …`)
  const idle = await runCampaign(
    validateScenario({
      name: `bench-client-idle-${hosts}`,
      homes: [home('client', 'client')],
      durationSeconds: idleSeconds,
    }),
    options,
  )
  console.log(`busy phase: ${rounds} cone ↔ cone rounds with ${hosts} hosts …`)
  const busy = await runCampaign(
    validateScenario({
      name: `bench-client-busy-${hosts}`,
      homes: [home('client', 'client'), home('remote', 'remote')],
      rounds,
    }),
    options,
  )
  const stored = busy.verdict.rounds.length
  // The figures stand even when a round disagrees (LAB.md: one host measuring one js remote
  // back to back now and then loses a TCP round); say so, and fail only a phase that hardly ran.
  if (!busy.ok)
    console.error(
      `${hosts} hosts: the busy phase disagreed with the lab:\n${busy.verdict.problems.join('\n')}`,
    )
  if (busy.verdict.agree < 0.9 * rounds) {
    console.error(
      `${hosts} hosts: only ${busy.verdict.agree} of ${rounds} rounds as expected:\n${busy.table}`,
    )
    process.exit(1)
  }
  runs.push({
    hosts,
    idle: need(idle.resources['client-client'], `idle client with ${hosts} hosts`),
    busy: need(busy.resources['client-client'], `busy client with ${hosts} hosts`),
    stored,
    agree: busy.verdict.agree,
  })
}

const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU'
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
const percent = (p: number | undefined) => (p === undefined ? '–' : `${p.toFixed(1)} %`)
const row = (hosts: number, phase: string, u: ResourceUsage, perRound: string) =>
  `| ${hosts} | ${phase} | ${u.wallSeconds.toFixed(0)} s | ${u.rssMeanMiB.toFixed(0)} MiB | ${u.rssPeakMiB.toFixed(0)} MiB | ${percent(u.cpuPercent)} | ${percent(u.steadyCpuPercent)} | ${perRound} |`
const byDefault = runs.find((r) => r.hosts === DEFAULT_HOST_COUNT) ?? runs[0]!
const goMiB = 100 / 1.048576
const section = `${HEADING}

Command: \`sudo npm run bench -- --client${process.argv.includes('--hosts') ? ` --hosts ${values.hosts}` : ''}\` (NAT lab: root, Linux). Source: \`bench/client-main.ts\`, sampler \`src/lab/campaign/resources.ts\`.

Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; commit ${commit}. One \`punchr client\` process (TCP and QUIC, the default) with ${hostCounts.join(', ')} hosts (\`--host-count\`; ${DEFAULT_HOST_COUNT} is the default) behind a cone NAT, sampled from /proc once a second (RSS mean of the samples, peak = the kernel's VmHWM; CPU = user + system time over the sampled wall time, in % of one core). Idle: no remote exists, so the client registers its hosts and asks GetAddrInfo again every 2 s (the lab's \`--no-remote-wait\`; the default 30 s would idle even less). Busy: ${rounds} cone ↔ cone rounds back to back against one js-libp2p remote, start-up included.

| hosts | phase | sampled | RSS mean | RSS peak | CPU | CPU after the first 30 s | CPU per round |
|--:|---|--:|--:|--:|--:|--:|--:|
${runs
  .flatMap((r) => [
    row(r.hosts, 'idle', r.idle, '–'),
    row(
      r.hosts,
      `busy (${r.agree} of ${r.stored} rounds as expected)`,
      r.busy,
      `${((r.busy.cpuSeconds / Math.max(1, r.stored)) * 1000).toFixed(0)} ms`,
    ),
  ])
  .join('\n')}

The Go punchr client's published figures are about 100 MB of memory and 2.5 % CPU. Ratios against them, at the default ${byDefault.hosts} hosts: idle RSS ${(byDefault.idle.rssMeanMiB / goMiB).toFixed(2)}×, busy peak RSS ${(byDefault.busy.rssPeakMiB / goMiB).toFixed(2)}×; idle CPU after start-up ${((byDefault.idle.steadyCpuPercent ?? byDefault.idle.cpuPercent) / 2.5).toFixed(2)}× (the Go figure is for its default round pacing, ours back to back in the busy phase, so only the idle ratio compares like with like).${
  runs.length > 1
    ? ` Per host, from ${runs[0]!.hosts} to ${runs.at(-1)!.hosts} hosts: idle RSS grows by ${((runs.at(-1)!.idle.rssMeanMiB - runs[0]!.idle.rssMeanMiB) / Math.max(1, runs.at(-1)!.hosts - runs[0]!.hosts)).toFixed(1)} MiB a host.`
    : ''
}
`
console.log(`\n${section}`)
if (!values['no-write']) console.log(`written to ${writeDocs(section, HEADING)}`)

function need(usage: ResourceUsage | undefined, what: string): ResourceUsage {
  if (usage === undefined) {
    console.error(`no resource figures for the ${what}: see the run folder logs`)
    process.exit(1)
  }
  return usage
}
