// `punchr service install` and `uninstall`: the file work and the systemctl calls around a
// planned unit. systemctl goes through a runner so that tests can record what would be run.
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../client/atomic-file.js'
import { ConfigError } from '../lib/errors.js'
import { apiKeyAdvice } from './command-args.js'
import type { ServiceLayout } from './layout.js'
import { locateUnit, planUnit, type UnitRequest } from './plan.js'
import type { Program } from './program.js'
import { managerUnusable, type SystemctlRunner, shellLine, systemctlArgs } from './systemctl.js'
import { isPunchrUnit } from './unit-file.js'

type Env = Record<string, string | undefined>

export interface ServiceContext {
  env: Env
  program: Program
  version: string
  systemctl: SystemctlRunner
  /** One line of output for the user (stdout). */
  say: (line: string) => void
}

export interface InstallOptions extends UnitRequest {
  /** Print the unit, write nothing, run nothing. */
  dryRun: boolean
  /** Run daemon-reload and enable --now (else only say how). */
  start: boolean
  /** Replace a unit file punchr did not write. */
  force: boolean
}

/** Unit files are read by systemd and by anyone who wants to know what runs: world-readable. */
const UNIT_FILE_MODE = 0o644
/** The user's punchr folders hold identities and the API key. */
const PRIVATE_DIR_MODE = 0o700

export async function installService(options: InstallOptions, ctx: ServiceContext): Promise<void> {
  const plan = planUnit(options, ctx.env, ctx.program, ctx.version)
  const { layout } = plan
  if (options.dryRun) {
    ctx.say(plan.text.trimEnd())
    return
  }
  const replacing = await refuseForeignUnit(plan.path, options.force)
  // A user unit writes in the user's XDG folders; ReadWritePaths= needs them to exist.
  for (const dir of layout.writablePaths) await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  await mkdir(layout.unitDir, { recursive: true })
  await writeFileAtomic(plan.path, plan.text, UNIT_FILE_MODE)
  ctx.say(`wrote ${plan.path}`)

  const keyMissing = layout.client !== undefined && !existsSync(layout.client.apiKeySource)
  if (keyMissing) ctx.say(`the client has no API key yet: ${apiKeyAdvice(layout)}`)
  const steps = [['daemon-reload'], ...startSteps(layout.unitName, { keyMissing, replacing })]
  const ran = runOrSay(steps, options.start ? undefined : 'not started (--no-start)', layout, ctx)
  if (keyMissing) ctx.say(`once the key is there: ${shellLine(layout.scope, ['start', layout.unitName])}`)
  else if (ran) ctx.say(`started ${layout.unitName}`)
  ctx.say(`status: ${shellLine(layout.scope, ['status', layout.unitName])}`)
  ctx.say(`logs: journalctl ${layout.scope === 'user' ? '--user ' : ''}-u ${layout.unitName} -f`)
}

export interface UninstallOptions extends Omit<UnitRequest, 'commandArgs'> {
  /** Remove a unit file punchr did not write. */
  force: boolean
  /** Stop and disable it first (else only say how). */
  stop: boolean
}

export async function uninstallService(options: UninstallOptions, ctx: ServiceContext): Promise<void> {
  const layout = locateUnit(options, ctx.env)
  const path = join(layout.unitDir, layout.unitName)
  if (!existsSync(path)) throw new ConfigError(`there is no unit file ${path} to remove`)
  await refuseForeignUnit(path, options.force)
  const reason = options.stop ? managerUnusable(ctx.systemctl, layout.scope) : 'not stopped (--no-start)'
  if (reason === undefined) run(['disable', '--now', layout.unitName], layout, ctx, { mayFail: true })
  await rm(path)
  ctx.say(`removed ${path}`)
  if (reason === undefined) run(['daemon-reload'], layout, ctx)
  else {
    ctx.say(`${reason}: if the unit was enabled or running, run:`)
    ctx.say(`  ${shellLine(layout.scope, ['disable', '--now', layout.unitName])}`)
    ctx.say(`  ${shellLine(layout.scope, ['daemon-reload'])}`)
  }
  ctx.say(
    `its data stays in ${layout.stateDir}${layout.scope === 'system' ? ' (remove it with rm -r once it is no longer needed)' : ''}`,
  )
}

/**
 * enable --now starts a stopped unit but leaves a running one on its old command line: a
 * replaced unit is restarted (which also starts it when it was stopped). A client without its
 * key is only enabled: it would fail at once.
 */
function startSteps(
  unitName: string,
  { keyMissing, replacing }: { keyMissing: boolean; replacing: boolean },
) {
  if (keyMissing) return [['enable', unitName]]
  return replacing
    ? [
        ['enable', unitName],
        ['restart', unitName],
      ]
    : [['enable', '--now', unitName]]
}

/**
 * Never overwrite or remove a unit someone else wrote, unless told to. Returns whether there
 * is a unit file at `path` (that may be replaced).
 */
async function refuseForeignUnit(path: string, force: boolean): Promise<boolean> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  if (isPunchrUnit(text) || force) return true
  throw new ConfigError(
    `${path} was not written by punchr service install (its first line is not punchr's mark); leaving it alone. Pass --force to replace or remove it anyway, or choose another --name`,
  )
}

/**
 * Runs `steps` when asked to and the manager answers; otherwise says why not and prints them
 * for the user to run. Returns whether they ran.
 */
function runOrSay(
  steps: string[][],
  skipReason: string | undefined,
  layout: ServiceLayout,
  ctx: ServiceContext,
): boolean {
  const reason = skipReason ?? managerUnusable(ctx.systemctl, layout.scope)
  if (reason === undefined) {
    for (const step of steps) run(step, layout, ctx)
    return true
  }
  ctx.say(`${reason}; the unit is written. To start it, run:`)
  for (const step of steps) ctx.say(`  ${shellLine(layout.scope, step)}`)
  return false
}

function run(
  step: string[],
  layout: ServiceLayout,
  ctx: ServiceContext,
  { mayFail = false }: { mayFail?: boolean } = {},
): void {
  const line = shellLine(layout.scope, step)
  const res = ctx.systemctl(systemctlArgs(layout.scope, ...step))
  if (res.code === 0) {
    ctx.say(`ran ${line}`)
    return
  }
  const why = (res.error ?? res.stderr.trim()) || `exit ${res.code}`
  if (mayFail) ctx.say(`${line} failed (${why}); going on`)
  else throw new Error(`${line} failed: ${why}`)
}
