import { parseFlags, renderHelp } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import { serverFlags } from '../server/config.js'
import { createServer } from '../server/server.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

export const runServer: Command = async (argv, env) => {
  const { values: config, help } = parseFlags('server', serverFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('server', 'punchr server [flags]', serverFlags))
    return 0
  }
  const server = await createServer(config)
  await server.start()
  const signal = await untilSignal()
  logger('server').info({ signal }, 'received signal')
  await server.destroy()
  return 0
}
