// The measurement client as one object: N hosts, the API client, the report queue, the round
// loop and the metrics server, started and stopped in the right order. `punchr client`
// (src/cli/client.ts) builds its config from flags; tests build it from literals.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../lib/logger.js'
import { ApiClient, type ApiClientOptions } from './api-client.js'
import { type ClassifiedError, classifyApiError } from './api-errors.js'
import { type BackoffOptions, sleep } from './backoff.js'
import type { RouterProbeSetting } from './config.js'
import {
  BOOTSTRAP_STAGGER_MS,
  clientAgentVersion,
  DEFAULT_METRICS_HOST,
  PORT_MAPPING_WAIT_MS,
  REST_AFTER_IDLE_MS,
  SHUTDOWN_FLUSH_TIMEOUT_MS,
} from './constants.js'
import { MeasuringHost, type MeasuringHostInit } from './host.js'
import { detectIpFamilies, familyOf, type IpFamily, probeFamily } from './ip-families.js'
import { ClientMetrics, type MetricsServer, serveMetrics } from './metrics.js'
import { PortMapper, PortMappingError, type PortProtocol } from './port-mapping.js'
import { freePorts } from './ports.js'
import type { PunchTransport } from './punch-addrs.js'
import { endpointOf } from './punch-targets.js'
import type { NetworkFacts } from './report.js'
import { type QueueEvent, ReportQueue, type ReportQueueOptions } from './report-queue.js'
import { type LoopEvent, RoundLoop, type RoundLoopOptions } from './round-loop.js'
import { probeRouter } from './router-probe.js'
import type { StatusSource } from './status-http.js'
import type { TraceEvent } from './tracer/index.js'
import { usableTransports } from './usable-transports.js'

const DEFAULT_TRANSPORTS: readonly PunchTransport[] = ['tcp', 'quic']

export interface PunchrClientConfig {
  /** API server and its TLS settings. */
  api: ApiClientOptions
  apiKey: string
  /** One per host; the host count is their number. */
  hostKeys: readonly PrivateKey[]
  /** The package version (goes into the agent version). */
  version: string
  /** Rounds to run; 0 = until stopped. */
  rounds: number
  bootstrapPeers: readonly Multiaddr[]
  queueDir: string
  listenHost: string
  /** What the hosts measure with. @default tcp and quic */
  transports?: readonly PunchTransport[]
  /**
   * The IP families the hosts listen and punch on. @default with a wildcard `listenHost`, the
   * families the machine reaches the internet on (ip-families.ts); else the listen address's.
   */
  ipFamilies?: readonly IpFamily[]
  /** Punch remotes' private and loopback addresses too (testbeds only). @default false */
  punchPrivateAddrs?: boolean
  /** Fingerprint the home router for the reports (router-probe.ts). @default 'off' */
  routerProbe?: RouterProbeSetting
  /**
   * Ask the gateway (NAT-PMP, UPnP IGD) to map each host's listening ports, report the
   * mappings, remove them on exit (port-mapping.ts). @default false
   */
  portMapping?: boolean
  /** Where /metrics is served, and the status page with `status`; undefined = not at all. */
  metrics?: { host?: string; port: number; status?: StatusSource }
}

/** Knobs for tests and the lab; production uses the defaults. */
export interface PunchrClientOptions {
  tracer?: MeasuringHostInit['tracer']
  round?: RoundLoopOptions['round']
  notFoundWait?: number
  /** Nothing to measure for this long (ms): the hosts rest (RoundLoopOptions). @default REST_AFTER_IDLE_MS; Infinity = never */
  restAfterIdle?: number
  apiRetry?: BackoffOptions
  queue?: Pick<ReportQueueOptions, 'backoff' | 'maxReports' | 'maxBytes' | 'maxUnknownAttempts'>
  /** How long the bootstrap peers get to tell each host its observed address. */
  observeTimeout?: number
  /** Pause between two hosts' bootstraps (ms). @default BOOTSTRAP_STAGGER_MS */
  bootstrapStagger?: number
  /** On stop, how long the queue may keep sending. @default 5 s */
  flushTimeout?: number
  onLoopEvent?: (event: LoopEvent) => void
  onQueueEvent?: (event: QueueEvent) => void
  /** Every tracer event of every host (the status page tells the attempt running). */
  onTraceEvent?: (host: PeerId, event: TraceEvent) => void
  log?: Logger
}

export class PunchrClient {
  /** Identify's agent version: our transports and IP families. */
  readonly agentVersion: string
  readonly metrics = new ClientMetrics()
  private hosts: MeasuringHost[] = []
  private metricsServer: MetricsServer | undefined
  private readonly api: ApiClient
  private readonly stopController = new AbortController()
  private sending = false
  private roundLoop: RoundLoop | undefined
  /** The gateway's mappings of the hosts' listening ports; undefined with --port-mapping off. */
  private readonly portMapper: PortMapper | undefined

  private constructor(
    private readonly config: PunchrClientConfig,
    private readonly options: PunchrClientOptions,
    readonly queue: ReportQueue,
    /** The families the hosts measure on, and what the client knows about its IPv6. */
    readonly network: { families: IpFamily[]; facts: NetworkFacts },
  ) {
    this.agentVersion = clientAgentVersion(
      config.version,
      config.transports ?? DEFAULT_TRANSPORTS,
      network.families,
    )
    // A call that went through says the server is back: the queue and the round loop stop
    // waiting out a backoff that may have grown long during an outage.
    this.api = new ApiClient(config.api, {
      onSuccess: () => {
        queue.retryNow()
        this.roundLoop?.retryNow()
      },
    })
    this.portMapper =
      config.portMapping === true
        ? new PortMapper(
            options.log === undefined ? {} : { log: options.log.child({ part: 'port-mapping' }) },
          )
        : undefined
  }

  /** Opens the queue (picking up reports of earlier runs) and starts the hosts; no network yet. */
  static async create(wanted: PunchrClientConfig, options: PunchrClientOptions = {}): Promise<PunchrClient> {
    const transports = await usableTransports(wanted.transports ?? DEFAULT_TRANSPORTS, options.log)
    const config = { ...wanted, transports }
    let client: PunchrClient | undefined
    const queue = await ReportQueue.open({
      ...options.queue,
      dir: config.queueDir,
      send: (report, signal) => client!.api.trackHolePunchBytes(report, signal),
      classify: classifyReportError,
      onEvent: (event) => {
        client?.metrics.onQueueEvent(event)
        options.onQueueEvent?.(event)
      },
      ...(options.log === undefined ? {} : { log: options.log.child({ part: 'queue' }) }),
    })
    client = new PunchrClient(config, options, queue, await networkOf(config))
    client.metrics.onQueueEvent({ type: 'recovered', depth: queue.depth, removedTempFiles: 0 })
    try {
      await client.startHosts()
      if (config.metrics !== undefined) await client.startMetrics(config.metrics)
    } catch (err) {
      await client.close()
      throw err
    }
    return client
  }

  get peerIds(): string[] {
    return this.hosts.map((h) => h.peerId.toString())
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port
  }

  /**
   * Bootstraps the hosts, registers them, starts sending queued reports, and measures until
   * the configured rounds are done or stop() is called; then flushes the queue (bounded) and
   * closes everything. Throws FatalApiError when the server refuses the client for good.
   */
  async run(): Promise<void> {
    const signal = this.stopController.signal
    try {
      await this.mapPorts(signal)
      const ready = await this.bootstrap(signal)
      const loop = new RoundLoop({
        hosts: ready,
        api: this.api,
        queue: this.queue,
        apiKey: this.config.apiKey,
        agentVersion: this.registeredAgent(ready),
        rounds: this.config.rounds,
        ...(this.options.notFoundWait === undefined ? {} : { notFoundWait: this.options.notFoundWait }),
        restAfterIdle: this.options.restAfterIdle ?? REST_AFTER_IDLE_MS,
        ...(this.options.apiRetry === undefined ? {} : { retry: this.options.apiRetry }),
        round: { ...this.options.round, network: this.network.facts },
        onEvent: (event) => {
          this.metrics.onLoopEvent(event)
          this.options.onLoopEvent?.(event)
        },
        ...(this.options.log === undefined ? {} : { log: this.options.log.child({ part: 'rounds' }) }),
      })
      this.roundLoop = loop
      // Registration first: reports of an earlier run need their hosts known to the server.
      await loop.registerAll(signal)
      this.queue.start()
      this.sending = true
      await loop.run(signal)
    } finally {
      await this.close()
    }
  }

  /**
   * Asks the gateway for a mapping of every host's listening ports, waiting up to
   * PORT_MAPPING_WAIT_MS: a mapped QUIC socket changes how the NAT maps what leaves it, so the
   * bootstrap connections, whose observations classify the NAT (nat-behaviour.ts), come after
   * the mapping. A gateway that answers later is not waited for; reports carry what is held
   * when they are made.
   */
  private async mapPorts(signal: AbortSignal): Promise<void> {
    const mapper = this.portMapper
    if (mapper === undefined) return
    const log = this.options.log
    const mapped = Promise.all(
      this.hosts.flatMap((host) =>
        Object.entries(host.listeningPorts()).map(async ([protocol, internalPort]) => {
          const mapped = await mapper.map({ internalPort, protocol: protocol as PortProtocol })
          if (mapped instanceof PortMappingError)
            log?.debug(
              { host: host.peerId.toString(), internalPort, protocol, err: mapped.message },
              'port not mapped',
            )
          return mapped
        }),
      ),
    ).then((results) => {
      const failed = results.filter((r) => r instanceof PortMappingError)
      if (failed.length > 0)
        log?.info(
          { mapped: results.length - failed.length, failed: failed.length, err: failed[0]!.message },
          'port mapping',
        )
    })
    const done = new AbortController()
    await Promise.race([mapped, sleep(PORT_MAPPING_WAIT_MS, AbortSignal.any([signal, done.signal]))])
    done.abort() // the sleep's timer, when the mappings came first
  }

  /** Stops measuring: the running round ends CANCELLED and is queued; run() then returns. */
  stop(): void {
    this.stopController.abort()
  }

  /**
   * Register's agent version: only the families some host learnt an observed address on, i.e.
   * can offer in its CONNECT; the server then serves no filter of a family we cannot punch on.
   */
  private registeredAgent(hosts: readonly MeasuringHost[]): string {
    const observed = new Set(hosts.flatMap((h) => [...h.observedFamilies()]))
    const families = this.network.families.filter((f) => observed.has(f))
    const missing = this.network.families.filter((f) => !observed.has(f))
    if (missing.length > 0 && families.length > 0)
      this.options.log?.warn(
        { missing },
        `no host learnt its observed ${missing.join(', ')} address from the bootstrap peers: measuring ${families.join(', ')} only (give bootstrap peers with such addresses)`,
      )
    const transports = this.config.transports ?? DEFAULT_TRANSPORTS
    return clientAgentVersion(
      this.config.version,
      transports,
      families.length > 0 ? families : this.network.families,
    )
  }

  private async startHosts(): Promise<void> {
    const count = this.config.hostKeys.length
    // Ports free on every family: a dual-stack probe socket on :: holds both.
    const portHost =
      wildcard(this.config.listenHost) && this.network.families.includes('ip6')
        ? '::'
        : this.config.listenHost
    const ports = await freePorts(portHost, 2 * count)
    const infrastructure = await this.infrastructure()
    for (const [i, privateKey] of this.config.hostKeys.entries()) {
      const host = await MeasuringHost.create({
        privateKey,
        agentVersion: this.agentVersion,
        listenHost: this.config.listenHost,
        listenPort: ports[2 * i]!,
        dialPort: ports[2 * i + 1]!,
        transports: this.config.transports ?? DEFAULT_TRANSPORTS,
        ipFamilies: this.network.families,
        punchPrivateAddrs: this.config.punchPrivateAddrs ?? false,
        infrastructure,
        ...(this.portMapper === undefined
          ? {}
          : { portMappings: this.portMapper.mappings.bind(this.portMapper) }),
        ...(this.options.tracer === undefined ? {} : { tracer: this.options.tracer }),
      })
      const onTrace = this.options.onTraceEvent
      if (onTrace !== undefined)
        host.tracer.addEventListener('trace', (evt) => onTrace(host.peerId, evt.detail))
      this.hosts.push(host)
    }
  }

  /**
   * The endpoints of the server and the bootstrap peers: a remote's CONNECT may not make our
   * hosts punch them (punch-targets.ts). A server name that does not resolve now is left out.
   */
  private async infrastructure(): Promise<{ ip: string; port?: number }[]> {
    const endpoints = this.config.bootstrapPeers.flatMap((addr) => endpointOf(addr) ?? [])
    const url = new URL(this.api.baseUrl)
    const server = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    if (isIP(server) !== 0) endpoints.push({ ip: server, port })
    else {
      try {
        for (const { address } of await lookup(server, { all: true })) endpoints.push({ ip: address, port })
      } catch (err) {
        this.options.log?.warn({ server, err }, 'cannot resolve the server name; its IPs stay punchable')
      }
    }
    return endpoints
  }

  /** Metrics are a side matter: a port in use (a second client) must not stop the measuring. */
  private async startMetrics(where: NonNullable<PunchrClientConfig['metrics']>): Promise<void> {
    try {
      this.metricsServer = await serveMetrics(
        this.metrics,
        where.host ?? DEFAULT_METRICS_HOST,
        where.port,
        where.status,
      )
    } catch (err) {
      this.options.log?.warn(
        { err, port: where.port },
        '/metrics not served (use --metrics-port to pick another port)',
      )
    }
  }

  /** The hosts that learnt their observed address; throws when none did. */
  private async bootstrap(signal: AbortSignal): Promise<MeasuringHost[]> {
    const log = this.options.log
    const stagger = this.options.bootstrapStagger ?? BOOTSTRAP_STAGGER_MS
    const results = await Promise.all(
      this.hosts.map(async (host, i) => {
        try {
          // One host after the other: they share one address, which js-libp2p peers rate-limit.
          await sleep(i * stagger, signal)
          const result = await host.bootstrap(this.config.bootstrapPeers, {
            signal,
            ...(this.options.observeTimeout === undefined
              ? {}
              : { observeTimeout: this.options.observeTimeout }),
          })
          log?.info(
            {
              host: host.peerId.toString(),
              dialPort: host.dialPort,
              connected: result.connected.length,
              failed: result.failed.length,
              resets: result.resets,
              observed: result.observed.map(String),
              // The NAT mapping per path as the bootstrap peers see it (docs/OUTCOMES.md).
              nat: Object.fromEntries(host.natBehaviours().map((b) => [b.path, b.mapping])),
            },
            'host bootstrapped',
          )
          return result.observed.length > 0 ? host : undefined
        } catch (err) {
          log?.warn({ host: host.peerId.toString(), err }, 'host could not bootstrap')
          return undefined
        }
      }),
    )
    const ready = results.filter((h): h is MeasuringHost => h !== undefined)
    if (signal.aborted) return ready.length > 0 ? ready : this.hosts
    if (ready.length === 0) {
      // Without an observed address our CONNECT would carry private addresses only: every
      // punch would fail, and the results would blame hole punching for it.
      throw new Error(
        'no host learnt its observed address from the bootstrap peers (--bootstrap-peers); cannot measure',
      )
    }
    if (ready.length < this.hosts.length) {
      log?.warn(
        { ready: ready.length, hosts: this.hosts.length },
        'measuring with the hosts that bootstrapped',
      )
    }
    return ready
  }

  private closing: Promise<void> | undefined

  /** Flushes the queue (bounded), then stops sender, hosts, API client and metrics. Idempotent. */
  private close(): Promise<void> {
    this.closing ??= (async () => {
      // Without a started sender (registration never succeeded) there is nothing to wait for.
      const flushed =
        this.sending && (await this.queue.drain(this.options.flushTimeout ?? SHUTDOWN_FLUSH_TIMEOUT_MS))
      if (!flushed && this.queue.depth.reports > 0)
        this.options.log?.warn(
          { ...this.queue.depth, dir: this.queue.dir },
          'reports left queued for the next start',
        )
      await this.queue.stop()
      // Mappings go before the hosts: a gateway keeps a mapping to nothing until its lease ends.
      await this.portMapper?.close()
      await Promise.allSettled(this.hosts.map((h) => h.stop()))
      this.api.close()
      await this.metricsServer?.close()
    })()
    return this.closing
  }
}

/**
 * TrackHolePunch errors, for the queue. FAILED_PRECONDITION ("host not registered") follows a
 * server whose database was reset; the round loop registers the host again at its next
 * GetAddrInfo, so the report gets the few tries of an unclear error instead of being set
 * aside at once.
 */
function classifyReportError(err: unknown): ClassifiedError {
  const error = classifyApiError(err)
  return error.code === 'FailedPrecondition' ? { ...error, kind: 'unknown' } : error
}

/**
 * The home router's fingerprint, asked once at start: the router does not change while the
 * client runs, and a probe per report would knock on it every few seconds.
 */
async function routerFacts(
  setting: RouterProbeSetting,
): Promise<Pick<NetworkFacts, 'routerFingerprint' | 'routerProbeError'>> {
  if (setting === 'off') return {}
  const probed = await probeRouter(
    setting === 'on'
      ? {}
      : { gateway: setting.gateway, ...(setting.port === undefined ? {} : { port: setting.port }) },
  )
  return 'fingerprint' in probed
    ? { routerFingerprint: probed.fingerprint }
    : { routerProbeError: probed.error }
}

function wildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

/**
 * The families to measure on (configured, or detected for a wildcard listen address) and the
 * IPv6 facts every report carries.
 */
async function networkOf(config: PunchrClientConfig): Promise<{ families: IpFamily[]; facts: NetworkFacts }> {
  const [ipv6, router] = await Promise.all([probeFamily('ip6'), routerFacts(config.routerProbe ?? 'off')])
  const facts: NetworkFacts = {
    supportsIpv6: ipv6.usable,
    ...(ipv6.error === undefined ? {} : { supportsIpv6Error: ipv6.error }),
    ...router,
  }
  if (config.ipFamilies !== undefined && config.ipFamilies.length > 0)
    return { families: [...config.ipFamilies], facts }
  if (!wildcard(config.listenHost)) return { families: [familyOf(config.listenHost)], facts }
  const { families } = await detectIpFamilies()
  if (families.length === 0)
    throw new Error(
      'the machine reaches the internet on neither IPv4 nor IPv6 (no usable address or route); check its network, or name the families with --ip',
    )
  return { families, facts }
}
