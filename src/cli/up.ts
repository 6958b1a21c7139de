// `punchr up` (`npm start`): the server and the honeypot in one process on one database, so
// that the embedded PGlite database (single-process) serves both. Prints where everything
// listens: the server's addresses and the dashboard's URL, then the honeypot's lines in the
// format of `punchr honeypot`. Honeypot flags that would clash with the server's carry a
// `honeypot-` prefix; `--host` is the address of everything.
import { join } from 'node:path'
import { loadOrCreateKey } from '../honeypot/key-file.js'
import { parseFlags, renderHelp, stringFlag } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import { serverFlags } from '../server/config.js'
import { createServer } from '../server/server.js'
import { honeypotFlags, httpUrl, startHoneypot, withDatabase } from './honeypot.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

export const upFlags = {
  ...serverFlags,
  host: {
    ...serverFlags.host,
    description: 'Address everything listens on: gRPC, HTTP, the honeypot and its /metrics',
  },
  honeypotPort: { ...honeypotFlags.port, name: 'honeypot-port', group: 'Honeypot' },
  honeypotHttpPort: { ...honeypotFlags.httpPort, name: 'honeypot-http-port', group: 'Honeypot' },
  honeypotKeyFile: stringFlag(
    'honeypot-key-file',
    'Honeypot identity, created with mode 0600 when missing (default: honeypot.key in --data-dir)',
    '',
    { group: 'Honeypot' },
  ),
  honeypotMaxConnections: {
    ...honeypotFlags.maxConnections,
    name: 'honeypot-max-connections',
    group: 'Honeypot',
  },
  honeypotHost6: { ...honeypotFlags.listenHost6, name: 'honeypot-host6', group: 'Honeypot' },
  announce: { ...honeypotFlags.announce, group: 'Honeypot' },
  bootstrapPeers: { ...honeypotFlags.bootstrapPeers, group: 'Honeypot' },
  walkInterval: { ...honeypotFlags.walkInterval, group: 'Honeypot' },
}

export const runUp: Command = async (argv, env) => {
  const { values, help } = parseFlags('up', upFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('up', 'punchr up [flags]', upFlags))
    return 0
  }
  const log = logger('up')
  const keyFile =
    values.honeypotKeyFile !== '' ? values.honeypotKeyFile : join(values.dataDir, 'honeypot.key')
  const privateKey = await loadOrCreateKey(keyFile, logger('honeypot'))
  await withDatabase(values, async (db, geo) => {
    // Listening for signals before the lines are printed: whoever reads them may stop us at once.
    const stopping = untilSignal()
    // Every server flag is an `up` flag under the same name, so the values are a server config.
    const server = await createServer(values, { db, geo })
    try {
      await server.start()
      process.stdout.write(
        `server gRPC on ${values.host}:${server.grpcPort}\nserver HTTP on ${httpUrl(values.host, server.httpPort)}\n` +
          `dashboard on ${httpUrl(values.host, server.httpPort)}/\n`,
      )
      const honeypot = await startHoneypot(
        {
          listenHost: values.host,
          listenHost6: values.honeypotHost6,
          port: values.honeypotPort,
          httpPort: values.honeypotHttpPort,
          announce: values.announce,
          bootstrapPeers: values.bootstrapPeers,
          walkInterval: values.walkInterval,
          maxConnections: values.honeypotMaxConnections,
        },
        privateKey,
        db,
        geo,
      )
      const signal = await stopping
      log.info({ signal }, 'received signal')
      // The honeypot first: its last batch goes to the database the server still holds open.
      await honeypot.stop()
    } finally {
      await server.destroy()
    }
  })
  return 0
}
