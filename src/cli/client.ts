import { PunchrClient } from '../client/client.js'
import { clientFlags, resolvePaths } from '../client/config.js'
import { loadHostKeys, readApiKeyFile } from '../client/key-file.js'
import { RoundStats, roundLine } from '../client/round-log.js'
import { FatalApiError } from '../client/round-loop.js'
import { ConfigError } from '../lib/errors.js'
import { parseFlags, renderHelp } from '../lib/flags.js'
import { logger } from '../lib/logger.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'
import { VERSION } from './version.js'

/**
 * `punchr client`: measures hole punching with N hosts in rotation and reports every round to
 * the server. One line per round on stdout, a summary on exit; JSON logs on stderr. The first
 * SIGINT/SIGTERM ends the running round (CANCELLED, still reported) and flushes the queue
 * briefly; a second one exits at once.
 */
export const runClient: Command = async (argv, env) => {
  const { values, help } = parseFlags('client', clientFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('client', 'punchr client [flags]', clientFlags))
    return 0
  }
  const log = logger('client')
  const paths = resolvePaths(values, env)
  const apiKey = values.apiKey ?? (await readApiKeyFile(paths.apiKeyFile, log))
  if (apiKey === undefined || apiKey.trim() === '') {
    throw new ConfigError(
      `no API key: pass --api-key, set PUNCHR_CLIENT_API_KEY, or put it in ${paths.apiKeyFile}`,
    )
  }
  const hostKeys = await loadHostKeys(paths.keyFile, values.hostCount, log)
  const stats = new RoundStats()
  const client = await PunchrClient.create(
    {
      api: { server: values.server, tls: values.tls, tlsSkipVerify: values.tlsSkipVerify },
      apiKey: apiKey.trim(),
      hostKeys,
      version: VERSION,
      rounds: values.rounds,
      bootstrapPeers: values.bootstrapPeers,
      queueDir: paths.queueDir,
      listenHost: values.listenHost,
      transports: values.transports,
      ipFamilies: values.ip,
      punchPrivateAddrs: values.punchPrivateAddrs,
      routerProbe: values.routerProbe,
      portMapping: values.portMapping,
      metrics: { port: values.metricsPort },
    },
    {
      log,
      notFoundWait: values.noRemoteWait * 1000,
      onLoopEvent: (event) => {
        stats.onLoopEvent(event)
        if (event.type === 'round-finished') process.stdout.write(`${roundLine(event, client.queue.depth)}\n`)
      },
      onQueueEvent: stats.onQueueEvent,
    },
  )
  log.info(
    {
      server: values.server,
      hosts: client.peerIds.length,
      queue: paths.queueDir,
      queued: client.queue.depth.reports,
      metrics: `127.0.0.1:${client.metricsPort}`,
      agent: client.agentVersion,
      ipFamilies: client.network.families,
      supportsIpv6: client.network.facts.supportsIpv6,
      ...(client.network.facts.supportsIpv6Error === undefined
        ? {}
        : { ipv6: client.network.facts.supportsIpv6Error }),
      ...(client.network.facts.routerFingerprint === undefined
        ? {}
        : { router: client.network.facts.routerFingerprint }),
      ...(client.network.facts.routerProbeError === undefined
        ? {}
        : { routerProbe: client.network.facts.routerProbeError }),
    },
    `punchr client starting on ${client.network.families.join(' and ')}`,
  )
  void untilSignal().then((signal) => {
    log.info(
      { signal },
      'stopping (a round in progress is reported as CANCELLED; a second signal exits at once)',
    )
    client.stop()
  })
  try {
    await client.run()
  } catch (err) {
    if (err instanceof FatalApiError) {
      process.stderr.write(`punchr client: ${err.message}\n`)
      return 1
    }
    throw err
  } finally {
    process.stdout.write(stats.summary(client.queue.depth, paths.queueDir))
  }
  return 0
}
