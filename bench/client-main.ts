// `npm run bench -- --client`: memory and CPU of `punchr client` as volunteers run it (the
// default host count), measured in the NAT lab by the campaign runner's /proc sampler:
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
import { writeDocs } from './report.js'

const HEADING = '## Client: memory and CPU'
const USAGE = `npm run bench -- --client [--idle <s>] [--rounds <n>] [--hosts <n>] [--no-write]

  --idle <s>     seconds of the idle phase (default 120)
  --rounds <n>   cone ↔ cone rounds of the busy phase (default 40)
  --hosts <n>    hosts per client (default ${DEFAULT_HOST_COUNT}, the client's default)
  --no-write     do not update docs/benchmarks.md`

const { values } = parseArgs({
  options: {
    client: { type: 'boolean' },
    idle: { type: 'string', default: '120' },
    rounds: { type: 'string', default: '40' },
    hosts: { type: 'string', default: String(DEFAULT_HOST_COUNT) },
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
const idleSeconds = Number(values.idle)
const rounds = Number(values.rounds)
const hosts = Number(values.hosts)

const outDir = mkdtempSync(join(tmpdir(), 'punchr-client-bench-'))
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }))
const options = { outDir, clientHostCount: hosts, env: { PUNCHR_LOG_LEVEL: 'warn' } }
const home = (name: string, role: 'client' | 'remote') => ({
  name: `home-${name}`,
  nat: 'cone',
  hosts: [{ name, role }],
})

console.log(`idle phase: one client with ${hosts} hosts and no remote, ${idleSeconds} s …`)
const idle = await runCampaign(
  validateScenario({
    name: 'bench-client-idle',
    homes: [home('client', 'client')],
    durationSeconds: idleSeconds,
  }),
  options,
)
console.log(`busy phase: ${rounds} cone ↔ cone rounds …`)
const busy = await runCampaign(
  validateScenario({
    name: 'bench-client-busy',
    homes: [home('client', 'client'), home('remote', 'remote')],
    rounds,
  }),
  options,
)
if (!busy.ok) {
  console.error(
    `the busy phase did not measure what the lab expects:\n${busy.table}\n${busy.verdict.problems.join('\n')}`,
  )
  process.exit(1)
}
const idleUsage = need(idle.resources['client-client'], 'idle client')
const busyUsage = need(busy.resources['client-client'], 'busy client')
const stored = busy.verdict.rounds.length

const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU'
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
const percent = (p: number | undefined) => (p === undefined ? '–' : `${p.toFixed(1)} %`)
const row = (phase: string, u: ResourceUsage, perRound: string) =>
  `| ${phase} | ${u.wallSeconds.toFixed(0)} s | ${u.rssMeanMiB.toFixed(0)} MiB | ${u.rssPeakMiB.toFixed(0)} MiB | ${percent(u.cpuPercent)} | ${percent(u.steadyCpuPercent)} | ${perRound} |`
const section = `${HEADING}

Command: \`sudo npm run bench -- --client\` (NAT lab: root, Linux). Source: \`bench/client-main.ts\`, sampler \`src/lab/campaign/resources.ts\`.

Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; commit ${commit}. One \`punchr client\` process with ${hosts} hosts (the default \`--host-count\`) behind a cone NAT, sampled from /proc once a second (RSS mean of the samples, peak = the kernel's VmHWM; CPU = user + system time over the sampled wall time, in % of one core). Idle: no remote exists, so the client registers its hosts and asks GetAddrInfo again every 2 s (the lab's \`--no-remote-wait\`; the default 30 s would idle even less). Busy: ${stored} cone ↔ cone rounds back to back against one js-libp2p remote (${busy.verdict.agree} of ${stored} SUCCESS as expected), start-up included.

| phase | sampled | RSS mean | RSS peak | CPU | CPU after the first 30 s | CPU per round |
|---|--:|--:|--:|--:|--:|--:|
${row('idle', idleUsage, '–')}
${row('busy', busyUsage, `${((busyUsage.cpuSeconds / Math.max(1, stored)) * 1000).toFixed(0)} ms`)}

The Go punchr client's published figures are about 100 MB of memory and 2.5 % CPU. Ratios against them: idle RSS ${(idleUsage.rssMeanMiB / (100 / 1.048576)).toFixed(2)}×, busy peak RSS ${(busyUsage.rssPeakMiB / (100 / 1.048576)).toFixed(2)}×; idle CPU after start-up ${((idleUsage.steadyCpuPercent ?? idleUsage.cpuPercent) / 2.5).toFixed(2)}× (the Go figure is for its default round pacing, ours back to back in the busy phase, so only the idle ratio compares like with like).
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
