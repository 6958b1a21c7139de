import { text } from 'node:stream/consumers'
import { PunchrClient } from '../client/client.js'
import { type ClientFlags, clientFlags, resolvePaths } from '../client/config.js'
import { checkApiKey, loadHostKeys, readApiKeyFile, storeApiKey } from '../client/key-file.js'
import { RoundStats, roundLine } from '../client/round-log.js'
import { FatalApiError } from '../client/round-loop.js'
import { ClientStatus } from '../client/status.js'
import { dashboardUrl, myResultsUrl } from '../client/status-links.js'
import { lastHourSummary } from '../client/status-summary.js'
import { ConfigError } from '../lib/errors.js'
import { parseFlags, renderHelp } from '../lib/flags.js'
import { type Logger, logger } from '../lib/logger.js'
import { VERSION } from '../lib/version.js'
import { noApiKeyMessage } from './login.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

/**
 * `punchr client`: measures hole punching with N hosts in rotation and reports every round to
 * the server. One line per round on stdout, a summary on exit; JSON logs on stderr. The first
 * SIGINT/SIGTERM ends the running round (CANCELLED, still reported) and flushes the queue
 * briefly; a second one exits at once. SIGUSR1 prints the last hour on stdout. The status
 * page (/, /status.json) is served beside /metrics on the loopback metrics port.
 */
export const runClient: Command = async (argv, env) => {
  const { values, help } = parseFlags('client', clientFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('client', 'punchr client [flags]', clientFlags))
    return 0
  }
  const log = logger('client')
  const paths = resolvePaths(values, env)
  const saveFlagGiven = argv.some((arg) => arg === '--save-api-key' || arg.startsWith('--save-api-key='))
  const { key: apiKey, file: apiKeyFile } = await resolveApiKey(values, paths.apiKeyFile, log, saveFlagGiven)
  const dashboard = dashboardUrl(values.dashboardUrl, values.server, values.tls)
  const hostKeys = await loadHostKeys(paths.keyFile, values.hostCount, log)
  const stats = new RoundStats()
  const status = new ClientStatus({
    version: VERSION,
    server: values.server,
    dashboardUrl: dashboard,
    myResultsUrl: myResultsUrl(dashboard, apiKey),
    apiKeyFile,
  })
  const client = await PunchrClient.create(
    {
      api: { server: values.server, tls: values.tls, tlsSkipVerify: values.tlsSkipVerify },
      apiKey,
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
      metrics: { port: values.metricsPort, status: () => status.snapshot() },
    },
    {
      log,
      notFoundWait: values.noRemoteWait * 1000,
      restAfterIdle: values.restAfterIdle === 0 ? Number.POSITIVE_INFINITY : values.restAfterIdle * 1000,
      onLoopEvent: (event) => {
        stats.onLoopEvent(event)
        status.onLoopEvent(event)
        if (event.type === 'round-finished') process.stdout.write(`${roundLine(event, client.queue.depth)}\n`)
      },
      onQueueEvent: (event) => {
        stats.onQueueEvent(event)
        status.onQueueEvent(event)
      },
      onTraceEvent: status.onTraceEvent,
    },
  )
  status.setHosts(client.peerIds)
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
  if (client.metricsPort !== undefined)
    process.stdout.write(`status page on http://127.0.0.1:${client.metricsPort}/\n`)
  void untilSignal().then((signal) => {
    log.info(
      { signal },
      'stopping (a round in progress is reported as CANCELLED; a second signal exits at once)',
    )
    status.stopping()
    client.stop()
  })
  // `kill -USR1 <pid>`: how the last hour went, without stopping (a listener also keeps Node
  // from opening its inspector on SIGUSR1).
  const printSummary = () => process.stdout.write(lastHourSummary(status.snapshot()))
  process.on('SIGUSR1', printSummary)
  try {
    await client.run()
    status.stopped()
  } catch (err) {
    status.failed(err instanceof Error ? err.message : String(err))
    if (err instanceof FatalApiError) {
      // The server refused the key (unknown, revoked) or the client for good: the user has to
      // act, restarting cannot help. 2 is the exit a service manager does not restart on
      // (RestartPreventExitStatus=2), as for any configuration mistake.
      process.stderr.write(`punchr client: ${err.message}\n`)
      return 2
    }
    throw err
  } finally {
    process.off('SIGUSR1', printSummary)
    process.stdout.write(stats.summary(client.queue.depth, paths.queueDir))
  }
  return 0
}

/**
 * The key to measure with, and the file it is stored in (null: given by flag or environment):
 * `--save-api-key` (stored first, as `punchr login` does; `-` reads it from stdin), else
 * `--api-key` / PUNCHR_CLIENT_API_KEY, else the API key file. None: the first-run message.
 */
async function resolveApiKey(
  values: Pick<ClientFlags, 'apiKey' | 'saveApiKey' | 'apiKeyFile'>,
  apiKeyFile: string,
  log: Logger,
  /** `--save-api-key` is in argv (not PUNCHR_CLIENT_SAVE_API_KEY). */
  saveFlagGiven: boolean,
): Promise<{ key: string; file: string | null }> {
  if (values.saveApiKey !== undefined) {
    const fromStdin = values.saveApiKey.trim() === '-'
    const key = checkApiKey(fromStdin ? await text(process.stdin) : values.saveApiKey)
    if (values.apiKey !== undefined && values.apiKey.trim() !== key)
      throw new ConfigError('--save-api-key and --api-key name two different keys; give one')
    await storeApiKey(apiKeyFile, key)
    // A key on the command line stays in `ps` (/proc/<pid>/cmdline, readable by every user)
    // for as long as this client runs, which may be days.
    process.stdout.write(`API key stored in ${apiKeyFile}, mode 0600\n`)
    if (saveFlagGiven && !fromStdin)
      process.stdout.write(
        'stored; next time run punchr client without --save-api-key (punchr login - keeps the key off the command line)\n',
      )
    return { key, file: apiKeyFile }
  }
  if (values.apiKey !== undefined) {
    if (values.apiKey.trim() === '')
      throw new ConfigError(noApiKeyMessage(apiKeyFile, values.apiKeyFile !== ''))
    return { key: values.apiKey.trim(), file: null }
  }
  const key = await readApiKeyFile(apiKeyFile, log)
  if (key === undefined || key.trim() === '')
    throw new ConfigError(noApiKeyMessage(apiKeyFile, values.apiKeyFile !== ''))
  return { key: key.trim(), file: apiKeyFile }
}
