// `punchr tray [tray flags] [client flags] [-- client flags]`: the tray's own flags are taken
// out, every other flag the client knows is passed through to `punchr client`, and after `--`
// everything goes to the client as it is.
import { ConfigError } from '../lib/errors.js'
import type { FlagSpecs } from '../lib/flags.js'

export interface SplitArgs {
  tray: string[]
  client: string[]
}

export function splitArgs(argv: readonly string[], traySpecs: FlagSpecs, clientSpecs: FlagSpecs): SplitArgs {
  const specOf = (specs: FlagSpecs, arg: string) => {
    const name = arg.slice(2).split('=')[0]!
    const all = Object.values(specs)
    return (
      all.find((s) => s.name === name) ??
      (name.startsWith('no-') ? all.find((s) => s.boolean === true && s.name === name.slice(3)) : undefined)
    )
  }
  const tray: string[] = []
  const client: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      client.push(...argv.slice(i + 1))
      break
    }
    if (arg === '--help' || arg === '-h' || !arg.startsWith('--')) {
      tray.push(arg)
      continue
    }
    const target = specOf(traySpecs, arg) !== undefined ? tray : client
    const spec = specOf(traySpecs, arg) ?? specOf(clientSpecs, arg)
    if (spec === undefined)
      throw new ConfigError(
        `unknown flag ${arg.split('=')[0]} for 'punchr tray' (neither the tray's nor the client's; see 'punchr tray --help')`,
      )
    target.push(arg)
    // A value in the next word: the flag is not boolean and has no `=value`.
    if (spec.boolean !== true && !arg.includes('=') && i + 1 < argv.length) target.push(argv[++i]!)
  }
  return { tray, client }
}
