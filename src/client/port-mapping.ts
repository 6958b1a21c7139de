// Port mappings on the home gateway, over NAT-PMP (RFC 6886) or UPnP IGD (WANIPConnection), as
// the original Go client made them for its listening ports and reported as `nat_mappings`.
// Our own small client rather than a library: docs/adr/0005-port-mapping.md says why (the
// npm ones lost UDP mappings on unmap, hung or crashed on NAT-PMP, and pull in far more).
//
// Everything the gateway sends is untrusted: answers are size-bounded, ports must be 1..65535,
// the external address a dotted IPv4, and the texts we quote are clipped. Failures are values
// (PortMappingError), never rejections, so that a gateway cannot take the client down.
import dgram from 'node:dgram'
import http from 'node:http'
import { isIPv4 } from 'node:net'
import { type Logger, logger } from '../lib/logger.js'
import { defaultGateway4 } from './default-gateway.js'

export type PortProtocol = 'tcp' | 'udp'
export type GatewayKind = 'nat-pmp' | 'upnp'

/** A mapping the gateway granted: the fields of the report's NATMapping, and the lease. */
export interface PortMapping {
  internalPort: number
  externalPort: number
  protocol: PortProtocol
  /** The external IPv4 address the gateway reports. */
  addr: string
  addrNetwork: 'ip4'
  via: GatewayKind
  /** The gateway's address on our LAN. */
  gateway: string
  /** When the gateway drops it unless renewed (ms since the epoch); undefined = a permanent lease. */
  expiresAt: number | undefined
}

export type PortMappingErrorCode =
  | 'no-gateway'
  | 'refused'
  | 'timeout'
  | 'bad-response'
  | 'network'
  | 'closed'

export class PortMappingError extends Error {
  override readonly name = 'PortMappingError'
  constructor(
    readonly code: PortMappingErrorCode,
    message: string,
    /** The gateway's own error number: a NAT-PMP result code or a UPnP errorCode. */
    readonly gatewayCode?: number,
  ) {
    super(message)
  }
}

export interface PortMapperOptions {
  /** Which protocols to try, in order of preference. @default ['nat-pmp', 'upnp'] */
  protocols?: readonly GatewayKind[]
  /**
   * The lease asked for, seconds; renewed at half of it. Short, so that the mappings of a
   * client that was killed (no chance to remove them) go away soon. @default 600
   */
  leaseSeconds?: number
  /** The bound of one exchange with the gateway (a NAT-PMP request with retransmissions, an HTTP request, the SSDP search). @default 2000 */
  timeoutMs?: number
  /** The NAT-PMP gateway. @default the IPv4 default route's gateway (from /proc/net/route; none elsewhere) */
  gateway?: string
  /** The description UPnP gateways show for our mappings. @default 'punchr' */
  description?: string
  log?: Logger
}

export interface MapRequest {
  internalPort: number
  protocol: PortProtocol
}

/** After a failed discovery, map() answers with that failure for this long before searching again. */
const REDISCOVER_AFTER_MS = 5 * 60_000

/**
 * The port mappings of one client process, shared by its hosts: the gateway is found once
 * (first map()), every mapping is renewed before its lease ends (timers that keep no process
 * alive) and close() removes them all.
 */
export class PortMapper {
  readonly #protocols: readonly GatewayKind[]
  readonly #leaseSeconds: number
  readonly #timeoutMs: number
  readonly #gatewayOption: string | undefined
  readonly #description: string
  readonly #log: Logger
  readonly #held = new Map<string, { mapping: PortMapping; gateway: Gateway; timer?: NodeJS.Timeout }>()
  readonly #pending = new Map<string, Promise<PortMapping | PortMappingError>>()
  /** map() and renewals under way: close() waits for them, so none re-creates a removed mapping. */
  readonly #inflight = new Set<Promise<unknown>>()
  #discovery: Promise<Gateway | PortMappingError> | undefined
  #discoveryFailedAt: number | undefined
  #closing: Promise<void> | undefined

  constructor(options: PortMapperOptions = {}) {
    this.#protocols = options.protocols ?? ['nat-pmp', 'upnp']
    this.#leaseSeconds = options.leaseSeconds ?? 600
    if (!Number.isInteger(this.#leaseSeconds) || this.#leaseSeconds < 1 || this.#leaseSeconds > 86_400)
      throw new RangeError(`leaseSeconds must be an integer in 1..86400, got ${options.leaseSeconds}`)
    this.#timeoutMs = options.timeoutMs ?? 2_000
    this.#gatewayOption = options.gateway
    this.#description = options.description ?? 'punchr'
    this.#log = options.log ?? logger('port-mapping')
  }

  /** Maps the port (the same external port when the gateway allows); the held mapping when it is mapped already. */
  map(request: MapRequest): Promise<PortMapping | PortMappingError> {
    if (!isPort(request.internalPort)) throw new RangeError(`not a port: ${request.internalPort}`)
    if (request.protocol !== 'tcp' && request.protocol !== 'udp')
      throw new RangeError(`protocol must be tcp or udp, got ${request.protocol}`)
    if (this.#closing !== undefined) return Promise.resolve(closedError())
    const key = `${request.protocol}/${request.internalPort}`
    const held = this.#held.get(key)
    if (held !== undefined) return Promise.resolve({ ...held.mapping })
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      pending = this.#track(this.#mapNew(request, key)).finally(() => this.#pending.delete(key))
      this.#pending.set(key, pending)
    }
    return pending
  }

  /** What the client holds now, for the report. */
  mappings(): PortMapping[] {
    const now = Date.now()
    return [...this.#held.values()]
      .filter(({ mapping }) => mapping.expiresAt === undefined || mapping.expiresAt > now)
      .map(({ mapping }) => ({ ...mapping }))
  }

  /** Removes every mapping; gives up after `timeoutMs` (the process must be able to exit). Idempotent. */
  close(timeoutMs = 3_000): Promise<void> {
    this.#closing ??= this.#close(timeoutMs)
    return this.#closing
  }

  async #close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs)
    })
    try {
      for (const held of this.#held.values()) clearTimeout(held.timer)
      await Promise.race([Promise.allSettled(this.#inflight), deadline])
      const all = [...this.#held.values()]
      this.#held.clear()
      const removals = all.map(({ mapping, gateway }) =>
        gateway.remove(mapping).then(
          () => this.#log.debug({ mapping }, 'port mapping removed'),
          (err: unknown) =>
            this.#log.warn({ mapping, err: asError(err).message }, 'could not remove port mapping'),
        ),
      )
      if ((await Promise.race([Promise.all(removals), deadline])) === 'late')
        this.#log.warn(
          { timeoutMs },
          'gave up removing port mappings: the gateway keeps them until their lease ends',
        )
    } finally {
      clearTimeout(timer)
    }
  }

  async #mapNew(
    { internalPort, protocol }: MapRequest,
    key: string,
  ): Promise<PortMapping | PortMappingError> {
    const gateway = await this.#gateway()
    if (gateway instanceof PortMappingError) return gateway
    try {
      // The address first: a mapping we could not report would be left on the gateway.
      const addr = await gateway.externalIp()
      const granted = await gateway.add(internalPort, protocol, internalPort, this.#leaseSeconds)
      const mapping: PortMapping = {
        internalPort,
        externalPort: granted.externalPort,
        protocol,
        addr,
        addrNetwork: 'ip4',
        via: gateway.kind,
        gateway: gateway.host,
        expiresAt: expiry(granted.leaseSeconds),
      }
      if (this.#closing !== undefined) {
        await gateway.remove(mapping).catch(() => undefined) // close() began meanwhile
        return closedError()
      }
      this.#held.set(key, { mapping, gateway })
      this.#scheduleRenewal(key, renewalDelay(granted.leaseSeconds, this.#leaseSeconds))
      this.#log.info({ mapping }, 'port mapped')
      return { ...mapping }
    } catch (err) {
      return asError(err)
    }
  }

  #scheduleRenewal(key: string, delayMs: number | undefined): void {
    const held = this.#held.get(key)
    if (held === undefined || delayMs === undefined) return
    held.timer = setTimeout(() => void this.#track(this.#renew(key)), delayMs)
    held.timer.unref()
  }

  async #renew(key: string): Promise<void> {
    const held = this.#held.get(key)
    if (held === undefined || this.#closing !== undefined) return
    const { mapping, gateway } = held
    try {
      // The WAN address may have changed (a new DHCP lease), so it is read again too.
      const addr = await gateway.externalIp()
      const granted = await gateway.add(
        mapping.internalPort,
        mapping.protocol,
        mapping.externalPort,
        this.#leaseSeconds,
      )
      if (this.#closing !== undefined) return // close() removes it
      if (granted.externalPort !== mapping.externalPort || addr !== mapping.addr)
        this.#log.warn(
          { mapping, externalPort: granted.externalPort, addr },
          'port mapping changed on renewal',
        )
      held.mapping = {
        ...mapping,
        addr,
        externalPort: granted.externalPort,
        expiresAt: expiry(granted.leaseSeconds),
      }
      this.#scheduleRenewal(key, renewalDelay(granted.leaseSeconds, this.#leaseSeconds))
      this.#log.debug({ mapping: held.mapping }, 'port mapping renewed')
    } catch (err) {
      const left = (mapping.expiresAt ?? 0) - Date.now()
      if (left > 1_000) {
        this.#log.warn({ mapping, err: asError(err).message }, 'port mapping renewal failed; retrying')
        this.#scheduleRenewal(key, left / 2)
      } else {
        this.#held.delete(key)
        this.#log.warn({ mapping, err: asError(err).message }, 'port mapping lost: renewal failed')
      }
    }
  }

  #gateway(): Promise<Gateway | PortMappingError> {
    const failedAt = this.#discoveryFailedAt
    if (
      this.#discovery === undefined ||
      (failedAt !== undefined && Date.now() - failedAt > REDISCOVER_AFTER_MS)
    ) {
      this.#discoveryFailedAt = undefined
      this.#discovery = discoverGateway(this.#protocols, {
        timeoutMs: this.#timeoutMs,
        gateway: this.#gatewayOption ?? defaultGateway4(),
        description: this.#description,
      }).then((found) => {
        if (found instanceof PortMappingError) {
          this.#discoveryFailedAt = Date.now()
          this.#log.info({ err: found.message }, 'no port mapping gateway')
        } else this.#log.info({ via: found.kind, gateway: found.host }, 'port mapping gateway found')
        return found
      })
    }
    return this.#discovery
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inflight.add(work)
    const forget = () => void this.#inflight.delete(work)
    work.then(forget, forget)
    return work
  }
}

/** What PortMapper needs of a gateway; methods throw PortMappingError. */
interface Gateway {
  readonly kind: GatewayKind
  readonly host: string
  externalIp(): Promise<string>
  /** Maps `internalPort`, asking for `externalPort`; leaseSeconds 0 = permanent. */
  add(
    internalPort: number,
    protocol: PortProtocol,
    externalPort: number,
    leaseSeconds: number,
  ): Promise<{ externalPort: number; leaseSeconds: number }>
  remove(mapping: PortMapping): Promise<void>
}

interface DiscoveryOptions {
  timeoutMs: number
  gateway: string | undefined
  description: string
}

/** The first of `kinds` (in that order) that answers; all are asked at once. */
async function discoverGateway(
  kinds: readonly GatewayKind[],
  options: DiscoveryOptions,
): Promise<Gateway | PortMappingError> {
  const stop = new AbortController()
  const attempts = kinds.map((kind) =>
    (kind === 'nat-pmp' ? findNatPmp(options) : findUpnp(options, stop.signal)).catch(asError),
  )
  const reasons: string[] = []
  try {
    for (const [i, attempt] of attempts.entries()) {
      const found = await attempt
      if (!(found instanceof PortMappingError)) return found
      reasons.push(`${kinds[i] === 'nat-pmp' ? 'NAT-PMP' : 'UPnP'}: ${found.message}`)
    }
  } finally {
    stop.abort()
  }
  return new PortMappingError(
    'no-gateway',
    `no port mapping gateway found (${reasons.join('; ') || 'none tried'})`,
  )
}

// ── NAT-PMP (RFC 6886) ────────────────────────────────────────────────────────────────────

const NAT_PMP_PORT = 5351
const NAT_PMP_RESULTS: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized/refused',
  3: 'network failure (the gateway has no external address)',
  4: 'out of resources (no ports left)',
  5: 'unsupported opcode',
}

async function findNatPmp(options: DiscoveryOptions): Promise<Gateway> {
  if (options.gateway === undefined)
    throw new PortMappingError(
      'no-gateway',
      'no IPv4 default gateway to ask (Linux reads it from /proc/net/route)',
    )
  const gateway = new NatPmpGateway(options.gateway, options.timeoutMs)
  await gateway.externalIp() // proves that it speaks NAT-PMP
  return gateway
}

class NatPmpGateway implements Gateway {
  readonly kind = 'nat-pmp'
  constructor(
    readonly host: string,
    private readonly timeoutMs: number,
  ) {}

  async externalIp(): Promise<string> {
    const answer = await this.request(Buffer.from([0, 0]), 0, 12)
    const ip = [...answer.subarray(8, 12)].join('.')
    if (ip === '0.0.0.0')
      throw new PortMappingError('refused', `NAT-PMP gateway ${this.host} has no external address`)
    return ip
  }

  async add(internalPort: number, protocol: PortProtocol, externalPort: number, leaseSeconds: number) {
    const op = protocol === 'udp' ? 1 : 2
    const answer = await this.request(mapRequest(op, internalPort, externalPort, leaseSeconds), op, 16)
    const granted = { externalPort: answer.readUInt16BE(10), leaseSeconds: answer.readUInt32BE(12) }
    if (
      answer.readUInt16BE(8) !== internalPort ||
      !isPort(granted.externalPort) ||
      granted.leaseSeconds === 0
    )
      throw new PortMappingError(
        'bad-response',
        `NAT-PMP gateway ${this.host} answered a mapping of ${internalPort} with ${answer.toString('hex')}`,
      )
    return granted
  }

  async remove(mapping: PortMapping): Promise<void> {
    // RFC 6886 §3.4: lifetime 0 and external port 0 delete the mapping of the internal port.
    const op = mapping.protocol === 'udp' ? 1 : 2
    await this.request(mapRequest(op, mapping.internalPort, 0, 0), op, 16)
  }

  /**
   * One request on a socket of its own, connected to the gateway: only its datagrams reach us,
   * and a gateway without NAT-PMP answers with ICMP port unreachable (ECONNREFUSED) at once.
   * Retransmitted after 250 ms, doubling (RFC 6886 §3.1), until timeoutMs.
   */
  private request(message: Buffer, op: number, answerLength: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4')
      let wait = 250
      let retransmit: NodeJS.Timeout | undefined
      let done = false
      const finish = (answer: Buffer | PortMappingError) => {
        if (done) return
        done = true
        clearTimeout(retransmit)
        clearTimeout(deadline)
        socket.close()
        if (answer instanceof PortMappingError) reject(answer)
        else resolve(answer)
      }
      const deadline = setTimeout(
        () =>
          finish(
            new PortMappingError(
              'timeout',
              `no NAT-PMP answer from ${this.host} within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      )
      const send = () => {
        if (done) return // ended before the socket was connected
        socket.send(message, (err) => err && finish(socketError(err, this.host)))
        retransmit = setTimeout(send, wait)
        wait *= 2
      }
      socket.on('error', (err) => finish(socketError(err, this.host)))
      socket.on('message', (answer) => {
        // Anything else (another version, another opcode, too short) is not our answer.
        if (answer.length < answerLength || answer[0] !== 0 || answer[1] !== 128 + op) return
        const result = answer.readUInt16BE(2)
        if (result === 0) return finish(answer)
        finish(
          new PortMappingError(
            'refused',
            `NAT-PMP gateway ${this.host} refused: ${NAT_PMP_RESULTS[result] ?? `result code ${result}`}`,
            result,
          ),
        )
      })
      // A connect that fails (no route to the gateway) hands its error to the callback.
      socket.connect(NAT_PMP_PORT, this.host, ((err?: NodeJS.ErrnoException) =>
        err === undefined || err === null ? send() : finish(socketError(err, this.host))) as () => void)
    })
  }
}

function mapRequest(op: number, internalPort: number, externalPort: number, leaseSeconds: number): Buffer {
  const message = Buffer.alloc(12)
  message[1] = op
  message.writeUInt16BE(internalPort, 4)
  message.writeUInt16BE(externalPort, 6)
  message.writeUInt32BE(leaseSeconds, 8)
  return message
}

function socketError(err: NodeJS.ErrnoException, host: string): PortMappingError {
  if (err.code === 'ECONNREFUSED')
    return new PortMappingError(
      'no-gateway',
      `${host} does not answer NAT-PMP (port ${NAT_PMP_PORT} unreachable)`,
    )
  return new PortMappingError('network', `NAT-PMP to ${host}: ${err.message}`)
}

// ── UPnP IGD ──────────────────────────────────────────────────────────────────────────────

const SSDP_ADDRESS = '239.255.255.250'
const SSDP_PORT = 1900
/** IGDv2 devices answer a search for v1 too (UPnP Device Architecture: lower versions are searchable). */
const SSDP_SEARCH = Buffer.from(
  'M-SEARCH * HTTP/1.1\r\n' +
    `HOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\n` +
    'MAN: "ssdp:discover"\r\n' +
    'MX: 1\r\n' +
    'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n',
)
/** In order of preference. */
const WAN_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
]
/** A device description or SOAP answer larger than this is not a gateway's. */
const MAX_HTTP_BODY = 128 * 1024

async function findUpnp(options: DiscoveryOptions, signal: AbortSignal): Promise<Gateway> {
  const location = await ssdpSearch(options, signal)
  const description = await httpText(location, { method: 'GET' }, options.timeoutMs)
  if (description.status !== 200)
    throw new PortMappingError(
      'bad-response',
      `UPnP device description ${location} answered HTTP ${description.status}`,
    )
  const services = xmlBlocks(description.body, 'service').map((block) => ({
    type: xmlValue(block, 'serviceType'),
    control: xmlValue(block, 'controlURL'),
  }))
  const service = WAN_SERVICES.flatMap((type) => services.filter((s) => s.type === type))[0]
  if (service?.control === undefined)
    throw new PortMappingError(
      'bad-response',
      `UPnP device ${location.host} offers no WANIPConnection service`,
    )
  const control = new URL(service.control, location)
  // The control URL must stay on the device that answered: a LAN host must not send us elsewhere.
  if (control.protocol !== 'http:' || control.hostname !== location.hostname)
    throw new PortMappingError(
      'bad-response',
      `UPnP device ${location.host} has a control URL elsewhere: ${clip(control.href)}`,
    )
  const internalClient = await localAddressTowards(location.hostname, Number(location.port || 80))
  return new UpnpGateway(location.hostname, control, service.type!, internalClient, options)
}

class UpnpGateway implements Gateway {
  readonly kind = 'upnp'
  constructor(
    readonly host: string,
    private readonly control: URL,
    private readonly service: string,
    /** Our LAN address, the NewInternalClient of our mappings. */
    private readonly internalClient: string,
    private readonly options: DiscoveryOptions,
  ) {}

  async externalIp(): Promise<string> {
    const ip = xmlValue(await this.soap('GetExternalIPAddress', []), 'NewExternalIPAddress') ?? ''
    if (!isIPv4(ip) || ip === '0.0.0.0')
      throw new PortMappingError(
        'bad-response',
        `UPnP gateway ${this.host} reports external address '${clip(ip)}'`,
      )
    return ip
  }

  async add(internalPort: number, protocol: PortProtocol, externalPort: number, leaseSeconds: number) {
    const args = (port: number, lease: number): [string, string | number][] => [
      ['NewRemoteHost', ''],
      ['NewExternalPort', port],
      ['NewProtocol', protocol.toUpperCase()],
      ['NewInternalPort', internalPort],
      ['NewInternalClient', this.internalClient],
      ['NewEnabled', 1],
      ['NewPortMappingDescription', this.options.description],
      ['NewLeaseDuration', lease],
    ]
    try {
      await this.soap('AddPortMapping', args(externalPort, leaseSeconds))
      return { externalPort, leaseSeconds }
    } catch (err) {
      const code = err instanceof PortMappingError ? err.gatewayCode : undefined
      // 725 OnlyPermanentLeasesSupported (IGDv1 routers): a mapping that only close() removes.
      if (code === 725) {
        await this.soap('AddPortMapping', args(externalPort, 0))
        return { externalPort, leaseSeconds: 0 }
      }
      // 718 ConflictInMappingEntry: another host has that external port; IGDv2 picks a free one.
      if (code !== 718 || !this.service.endsWith(':2')) throw err
      const reserved = Number(
        xmlValue(await this.soap('AddAnyPortMapping', args(externalPort, leaseSeconds)), 'NewReservedPort'),
      )
      if (!isPort(reserved))
        throw new PortMappingError(
          'bad-response',
          `UPnP gateway ${this.host} reserved no valid port for ${internalPort}`,
        )
      return { externalPort: reserved, leaseSeconds }
    }
  }

  async remove(mapping: PortMapping): Promise<void> {
    try {
      await this.soap('DeletePortMapping', [
        ['NewRemoteHost', ''],
        ['NewExternalPort', mapping.externalPort],
        ['NewProtocol', mapping.protocol.toUpperCase()],
      ])
    } catch (err) {
      if (!(err instanceof PortMappingError && err.gatewayCode === 714)) throw err // 714 NoSuchEntryInArray: gone already
    }
  }

  /** A SOAP action; the answer's body, or a PortMappingError with the UPnP errorCode. */
  private async soap(action: string, args: [string, string | number][]): Promise<string> {
    const body =
      '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
      's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
      `<u:${action} xmlns:u="${this.service}">` +
      args.map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`).join('') +
      `</u:${action}></s:Body></s:Envelope>\r\n`
    const answer = await httpText(
      this.control,
      {
        method: 'POST',
        headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: `"${this.service}#${action}"` },
        body,
      },
      this.options.timeoutMs,
    )
    if (answer.status === 200) return answer.body
    const code = Number(xmlValue(answer.body, 'errorCode'))
    const description = xmlValue(answer.body, 'errorDescription') ?? ''
    if (Number.isInteger(code))
      throw new PortMappingError(
        'refused',
        `UPnP gateway ${this.host} refused ${action}: ${code} ${clip(description)}`,
        code,
      )
    throw new PortMappingError(
      'bad-response',
      `UPnP gateway ${this.host} answered ${action} with HTTP ${answer.status}`,
    )
  }
}

/**
 * An SSDP search for an InternetGatewayDevice: the LOCATION of the first answer from the
 * default gateway, else (when none came from it) of the first from another LAN device. An
 * answer must point at its sender. Sent three times: multicast UDP gets lost.
 */
function ssdpSearch(options: DiscoveryOptions, signal: AbortSignal): Promise<URL> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4')
    let other: URL | undefined
    let done = false
    const timers: NodeJS.Timeout[] = []
    const finish = (found: URL | PortMappingError) => {
      if (done) return
      done = true
      for (const t of timers) clearTimeout(t)
      signal.removeEventListener('abort', aborted)
      socket.close()
      if (found instanceof PortMappingError) reject(found)
      else resolve(found)
    }
    const aborted = () => finish(new PortMappingError('closed', 'search stopped'))
    signal.addEventListener('abort', aborted)
    const send = () =>
      socket.send(SSDP_SEARCH, SSDP_PORT, SSDP_ADDRESS, (err) => {
        if (err) finish(new PortMappingError('network', `SSDP search: ${err.message}`))
      })
    timers.push(
      setTimeout(
        () =>
          finish(
            other ??
              new PortMappingError(
                'no-gateway',
                `no UPnP gateway answered an SSDP search within ${options.timeoutMs} ms`,
              ),
          ),
        options.timeoutMs,
      ),
    )
    socket.on('error', (err) => finish(new PortMappingError('network', `SSDP search: ${err.message}`)))
    socket.on('message', (message, from) => {
      const head = message.subarray(0, 2048).toString('latin1')
      if (!/^HTTP\/1\.[01] 200/.test(head)) return
      const location = /^location:[ \t]*(\S+)/im.exec(head)?.[1]
      let url: URL
      try {
        url = new URL(location ?? '')
      } catch {
        return
      }
      if (url.protocol !== 'http:' || url.hostname !== from.address) return
      if (options.gateway === undefined || from.address === options.gateway) finish(url)
      else other ??= url
    })
    socket.bind(0, () => {
      if (done) return // stopped before the socket was bound
      socket.setMulticastTTL(2)
      send()
      timers.push(setTimeout(send, 300), setTimeout(send, 900))
    })
  })
}

/**
 * A GET or POST with a bounded answer, settled within `timeoutMs` whatever the device does
 * (one timer, not the socket's events, ends it). No keep-alive, so nothing lingers.
 */
function httpText(
  url: URL,
  init: { method: string; headers?: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    if (url.protocol !== 'http:')
      return reject(new PortMappingError('bad-response', `not an http URL: ${clip(url.href)}`))
    const fail = (err: PortMappingError) => {
      clearTimeout(timer)
      request.destroy()
      reject(err)
    }
    const timer = setTimeout(
      () => fail(new PortMappingError('timeout', `no answer from ${url.host} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const request = http.request(url, {
      method: init.method,
      agent: false,
      headers: {
        ...init.headers,
        Connection: 'close',
        ...(init.body === undefined ? {} : { 'Content-Length': Buffer.byteLength(init.body) }),
      },
    })
    const networkError = (err: Error) =>
      fail(new PortMappingError('network', `${init.method} ${url.host}: ${err.message}`))
    request.on('error', networkError)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= MAX_HTTP_BODY) chunks.push(chunk)
        else fail(new PortMappingError('bad-response', `${url.host} sent more than ${MAX_HTTP_BODY} bytes`))
      })
      response.on('error', networkError)
      response.on('close', () => {
        if (!response.complete) return networkError(new Error('connection closed mid-answer'))
        clearTimeout(timer)
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })
      })
    })
    request.end(init.body)
  })
}

/** The local address the kernel would send from to reach `host`; a connected UDP socket sends nothing. */
function localAddressTowards(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4')
    socket.on('error', (err) => {
      socket.close()
      reject(new PortMappingError('network', `no route to ${host}: ${err.message}`))
    })
    socket.connect(port, host, ((err?: Error) => {
      if (err !== undefined && err !== null) {
        socket.close()
        reject(new PortMappingError('network', `no route to ${host}: ${err.message}`))
        return
      }
      const { address } = socket.address()
      socket.close()
      resolve(address)
    }) as () => void)
  })
}

// ── small helpers ─────────────────────────────────────────────────────────────────────────

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535
}

function expiry(leaseSeconds: number): number | undefined {
  return leaseSeconds === 0 ? undefined : Date.now() + leaseSeconds * 1000
}

/** Half the lease (RFC 6886 §3.3), of the shorter of granted and asked; never below 500 ms. */
function renewalDelay(granted: number, asked: number): number | undefined {
  return granted === 0 ? undefined : Math.max(500, (Math.min(granted, asked) * 1000) / 2)
}

function closedError(): PortMappingError {
  return new PortMappingError('closed', 'the port mapper is closed')
}

function asError(err: unknown): PortMappingError {
  if (err instanceof PortMappingError) return err
  return new PortMappingError('network', err instanceof Error ? err.message : String(err))
}

/** The text of the first element named `name` (any namespace prefix), unescaped. */
/**
 * The contents of every `<name>…</name>` (any namespace prefix), in one pass: a lazy regular
 * expression would rescan the rest of a hostile body for every opening tag without a close.
 */
function xmlBlocks(xml: string, name: string): string[] {
  const open = new RegExp(`<(?:\\w+:)?${name}>`, 'g')
  const close = new RegExp(`</(?:\\w+:)?${name}>`, 'g')
  const blocks: string[] = []
  for (let start = open.exec(xml); start !== null; start = open.exec(xml)) {
    close.lastIndex = open.lastIndex
    const end = close.exec(xml)
    if (end === null) break // no close after this one: none after the later ones either
    blocks.push(xml.slice(open.lastIndex, end.index))
    open.lastIndex = close.lastIndex
  }
  return blocks
}

/** The text of the first `<name>` element; attributes may not contain '<' (keeps the scan linear). */
function xmlValue(xml: string, name: string): string | undefined {
  const match = new RegExp(`<(?:\\w+:)?${name}(?:\\s[^<>]*)?>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)
  return match?.[1]
    ?.trim()
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A gateway's text as we quote it: printable ASCII, at most 120 characters. */
function clip(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120)
}
