// From what the user asked for to the unit to write: names, folders, the command line and the
// unit text. Pure (no files, no systemctl), so that tests and --dry-run see exactly what
// install writes.
import { join } from 'node:path'
import { refuseSecrets, stateFlags } from './command-args.js'
import { defaultUnitName, normaliseUnitName, type ServiceCommand } from './commands.js'
import { type Scope, type ServiceLayout, serviceLayout } from './layout.js'
import { checkProgramReachable, type Program } from './program.js'
import { renderUnit } from './unit-file.js'

type Env = Record<string, string | undefined>

export interface UnitRequest {
  command: ServiceCommand
  scope: Scope
  /** --name; the default is punchr-<command>. */
  unitName?: string
  /** --unit-dir; the default is the scope's unit folder. */
  unitDir?: string
  /** --api-key-file (client units). */
  apiKeyFile?: string
  /** The flags after `--`, for the command. */
  commandArgs: readonly string[]
}

export interface UnitPlan {
  layout: ServiceLayout
  /** Where the unit file goes. */
  path: string
  text: string
}

/** Where the unit of `request` lives, without rendering it (uninstall needs no more). */
export function locateUnit(request: Omit<UnitRequest, 'commandArgs'>, env: Env): ServiceLayout {
  const unitName = normaliseUnitName(request.unitName || defaultUnitName(request.command))
  return serviceLayout(
    {
      scope: request.scope,
      command: request.command,
      unitName,
      ...(request.unitDir === undefined ? {} : { unitDir: request.unitDir }),
      ...(request.apiKeyFile === undefined ? {} : { apiKeyFile: request.apiKeyFile }),
    },
    env,
  )
}

/** The unit for `request`. Throws ConfigError for secrets on the command line and the like. */
export function planUnit(request: UnitRequest, env: Env, program: Program, version: string): UnitPlan {
  const layout = locateUnit(request, env)
  refuseSecrets(request.command, request.commandArgs, layout)
  checkProgramReachable(program, request.scope)
  const execStart = [
    program.node,
    program.entry,
    request.command,
    ...request.commandArgs,
    ...stateFlags(request.command, request.commandArgs, layout),
  ]
  return {
    layout,
    path: join(layout.unitDir, layout.unitName),
    text: renderUnit({
      command: request.command,
      layout,
      execStart,
      version,
      documentation: program.docs,
    }),
  }
}
