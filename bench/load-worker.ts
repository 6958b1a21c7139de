import { parentPort, workerData } from 'node:worker_threads'
import { create, type DescMessage, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf'
import { multiaddr } from '@multiformats/multiaddr'
import { ApiError, codeName, GrpcChannel } from '../src/client/grpc-call.js'
import {
  GetAddrInfoRequestSchema,
  GetAddrInfoResponseSchema,
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  NATMappingSchema,
  NetworkInformationSchema,
  RegisterRequestSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../src/gen/punchr_pb.js'
import { peerIdToBytes } from '../src/lib/peer-id.js'
import { ReportBytes } from './report-bytes.js'
import type { RemoteSample } from './seed.js'

/**
 * The load generator: runs in a worker thread so that building and encoding requests does not
 * share the server's event loop (it still shares the machine's cores). Each of `concurrency`
 * loops has its own HTTP/2 connection, like separate client hosts, and sends one call after
 * the other for `warmupMs + durationMs`; only calls started after the warm-up are measured.
 * The calls go through `punchr client`'s own gRPC channel (src/client/grpc-call.ts): what
 * real clients cost the machine is not what is measured, and it costs about half of what
 * Connect's gRPC client did (docs/benchmarks.md, "Server: gRPC without Connect").
 */

export type Rpc = 'TrackHolePunch' | 'GetAddrInfo' | 'Register'

export interface WorkerHost {
  peerId: string
  apiKey: string
  /** all_host_ids: every host of the same key. */
  group: string[]
  listenAddrs: string[]
}

export interface LoadSpec {
  rpc: Rpc
  grpcUrl: string
  concurrency: number
  warmupMs: number
  durationMs: number
  hosts: WorkerHost[]
  /** Remotes the reports are about (TrackHolePunch only). */
  remotes: RemoteSample[]
}

export interface LoadResult {
  /** Latency of each measured call, ms. */
  latencies: Float64Array
  /** Start of each measured call, ms after the end of the warm-up. */
  startedAt: Float64Array
  ok: number
  /** Failed measured calls by gRPC code name. */
  errors: Record<string, number>
  firstError: string | undefined
  /** Length of the measured window, ms. */
  windowMs: number
  /** GetAddrInfo: the remote IDs handed out (base64 of the bytes), one per successful call. */
  remotes: string[]
  /** GetAddrInfo: answers without any multiaddr. */
  emptyAddrs: number
}

/** What a client host announces in Register (a realistic list, not an empty one). */
const REGISTER_PROTOCOLS = [
  '/ipfs/id/1.0.0',
  '/ipfs/ping/1.0.0',
  '/libp2p/dcutr',
  '/libp2p/circuit/relay/0.2.0/stop',
]

/** Each call's deadline: far above any latency measured here, so a hung call shows as an error. */
const CALL_TIMEOUT_MS = 60_000

const NS_PER_MS = 1_000_000n
const NS = 1_000_000_000n

export interface PreparedHost {
  bytes: Uint8Array
  apiKey: string
  group: Uint8Array[]
  listen: Uint8Array[]
  ip6: boolean
}

export interface PreparedRemote {
  bytes: Uint8Array
  relay: Uint8Array[]
  publicTcp: Uint8Array
  publicQuic: Uint8Array
  ip6: boolean
  relayPeer: Uint8Array
  relayDirect: Uint8Array
}

const bytesCache = new Map<string, Uint8Array>()
function peerBytes(id: string): Uint8Array {
  let bytes = bytesCache.get(id)
  if (bytes === undefined) {
    bytes = peerIdToBytes(id)
    bytesCache.set(id, bytes)
  }
  return bytes
}

export function prepareHost(host: WorkerHost): PreparedHost {
  return {
    bytes: peerBytes(host.peerId),
    apiKey: host.apiKey,
    group: host.group.map(peerBytes),
    listen: host.listenAddrs.map((a) => multiaddr(a).bytes),
    ip6: false,
  }
}

export function prepareRemote(remote: RemoteSample): PreparedRemote {
  return {
    bytes: peerBytes(remote.id),
    relay: remote.relayAddrs.map((a) => multiaddr(a).bytes),
    publicTcp: multiaddr(remote.publicAddrs[0]!).bytes,
    publicQuic: multiaddr(remote.publicAddrs[1]!).bytes,
    ip6: remote.publicAddrs[0]!.startsWith('/ip6/'),
    relayPeer: peerBytes(remote.relayId),
    relayDirect: multiaddr(remote.relayDirectAddr).bytes,
  }
}

const KUBO_PROTOCOLS = ['/ipfs/id/1.0.0', '/ipfs/kad/1.0.0', '/ipfs/ping/1.0.0', '/libp2p/dcutr']

/**
 * A report like a Go client sends after a success on the third attempt: 3 attempts, the
 * remote's relay addrs, 4 listen addrs, 3 latency measurements of 5 pings, network
 * information and a NAT mapping. `seq` makes every report unique (retries are deduplicated).
 */
export function buildReport(host: PreparedHost, remote: PreparedRemote, seq: number): TrackHolePunchRequest {
  return buildReportAt(host, remote, BigInt(Date.now() - 60_000) * NS_PER_MS + BigInt(seq % 1_000_000))
}

/** buildReport's report with the round's connect starting at `t0` (ns since the epoch). */
export function buildReportAt(host: PreparedHost, remote: PreparedRemote, t0: bigint): TrackHolePunchRequest {
  const attempt = (n: number, outcome: HolePunchAttemptOutcome, addrs: Uint8Array[]) => {
    const opened = t0 + NS / 5n + BigInt(n) * 6n * NS
    return create(HolePunchAttemptSchema, {
      openedAt: opened,
      startedAt: opened + NS / 20n,
      endedAt: opened + (outcome === HolePunchAttemptOutcome.SUCCESS ? NS : 5n * NS),
      startRtt: 0.05 + n / 1000,
      elapsedTime: outcome === HolePunchAttemptOutcome.SUCCESS ? 1 : 5,
      outcome,
      ...(outcome === HolePunchAttemptOutcome.SUCCESS
        ? {}
        : { error: 'all dials failed', directDialError: 'dial tcp: i/o timeout' }),
      multiAddresses: addrs,
    })
  }
  return create(TrackHolePunchRequestSchema, {
    clientId: host.bytes,
    remoteId: remote.bytes,
    remoteMultiAddresses: remote.relay,
    connectStartedAt: t0,
    connectEndedAt: t0 + NS / 10n,
    holePunchAttempts: [
      attempt(0, HolePunchAttemptOutcome.FAILED, [remote.publicTcp, remote.publicQuic]),
      attempt(1, HolePunchAttemptOutcome.TIMEOUT, [remote.publicTcp, remote.publicQuic]),
      attempt(2, HolePunchAttemptOutcome.SUCCESS, [remote.publicTcp]),
    ],
    openMultiAddresses: [remote.relay[0]!, remote.publicTcp],
    hasDirectConns: true,
    outcome: HolePunchOutcome.SUCCESS,
    endedAt: t0 + 20n * NS,
    listenMultiAddresses: host.listen,
    apiKey: host.apiKey,
    protocols: remote.ip6 ? [41, 6] : [4, 6],
    latencyMeasurements: [
      create(LatencyMeasurementSchema, {
        remoteId: remote.relayPeer,
        agentVersion: 'kubo/0.26.0/',
        protocols: ['/ipfs/id/1.0.0', '/libp2p/circuit/relay/0.2.0/hop'],
        multiAddress: remote.relayDirect,
        rtts: [0.021, 0.02, 0.022, 0.5, 0.019],
        rttErrs: ['', '', '', 'context deadline exceeded', ''],
        mtype: LatencyMeasurementType.TO_RELAY,
      }),
      create(LatencyMeasurementSchema, {
        remoteId: remote.bytes,
        agentVersion: 'kubo/0.25.0/',
        protocols: KUBO_PROTOCOLS,
        multiAddress: remote.relay[0]!,
        rtts: [0.12, 0.118, 0.125, 0.121, 0.119],
        rttErrs: ['', '', '', '', ''],
        mtype: LatencyMeasurementType.TO_REMOTE_THROUGH_RELAY,
      }),
      create(LatencyMeasurementSchema, {
        remoteId: remote.bytes,
        agentVersion: 'kubo/0.25.0/',
        protocols: KUBO_PROTOCOLS,
        multiAddress: remote.publicTcp,
        rtts: [0.05, 0.051, 0.049, 0.05, 0.052],
        rttErrs: ['', '', '', '', ''],
        mtype: LatencyMeasurementType.TO_REMOTE_AFTER_HOLE_PUNCH,
      }),
    ],
    networkInformation: create(NetworkInformationSchema, {
      supportsIpv6: true,
      routerLoginHtmlError: 'no router found',
    }),
    natMappings: [
      create(NATMappingSchema, {
        internalPort: 4001,
        externalPort: 40001,
        protocol: 'tcp',
        addr: '80.0.0.3',
        addrNetwork: 'ip4',
      }),
    ],
  })
}

/** A request message's bytes, built from its fields. */
function encode<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Uint8Array {
  return toBinary(schema, create(schema, init))
}

export async function runLoad(spec: LoadSpec, onMeasure: () => void = () => undefined): Promise<LoadResult> {
  const hosts = spec.hosts.map(prepareHost)
  const remotes = spec.remotes.map(prepareRemote)
  const latencies: number[] = []
  const startedAt: number[] = []
  const errors: Record<string, number> = {}
  const handedOut: string[] = []
  let firstError: string | undefined
  let ok = 0
  let emptyAddrs = 0
  let seq = 0
  const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!
  const reports = new ReportBytes(buildReportAt)
  if (spec.rpc === 'TrackHolePunch') reports.check(hosts[0]!, remotes[0]!, 1)

  const begin = performance.now()
  const measureFrom = begin + spec.warmupMs
  const end = measureFrom + spec.durationMs
  const measureTimer = setTimeout(onMeasure, spec.warmupMs)
  const channels: GrpcChannel[] = []

  const loop = async () => {
    const channel = new GrpcChannel(spec.grpcUrl, { rejectUnauthorized: true })
    channels.push(channel)
    const call = (method: Rpc, request: Uint8Array) =>
      channel.call(`/PunchrService/${method}`, request, { timeoutMs: CALL_TIMEOUT_MS })
    for (;;) {
      const host = pick(hosts)
      const t0 = performance.now()
      if (t0 >= end) return
      const measured = t0 >= measureFrom
      try {
        if (spec.rpc === 'TrackHolePunch') {
          await call(spec.rpc, reports.of(host, pick(remotes), seq++))
        } else if (spec.rpc === 'Register') {
          await call(
            spec.rpc,
            encode(RegisterRequestSchema, {
              clientId: host.bytes,
              agentVersion: 'punchr/ts-client/bench transports=tcp,quic ip=4',
              protocols: REGISTER_PROTOCOLS,
              apiKey: host.apiKey,
            }),
          )
        } else {
          const answer = await call(
            spec.rpc,
            encode(GetAddrInfoRequestSchema, {
              hostId: host.bytes,
              allHostIds: host.group,
              apiKey: host.apiKey,
            }),
          )
          const res = fromBinary(GetAddrInfoResponseSchema, answer)
          if (measured) {
            handedOut.push(Buffer.from(res.remoteId).toString('base64'))
            if (res.multiAddresses.length === 0) emptyAddrs++
          }
        }
        if (measured) ok++
      } catch (err) {
        const code = err instanceof ApiError ? codeName(err.code) : 'client'
        firstError ??= `${code}: ${err instanceof Error ? err.message : String(err)}`
        if (measured) errors[code] = (errors[code] ?? 0) + 1
      }
      if (measured) {
        latencies.push(performance.now() - t0)
        startedAt.push(t0 - measureFrom)
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, loop))
  const windowMs = performance.now() - measureFrom
  clearTimeout(measureTimer)
  for (const channel of channels) channel.close()
  return {
    latencies: Float64Array.from(latencies),
    startedAt: Float64Array.from(startedAt),
    ok,
    errors,
    firstError,
    windowMs,
    remotes: handedOut,
    emptyAddrs,
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'rpc' in workerData) {
  const port = parentPort
  runLoad(workerData as LoadSpec, () => port.postMessage({ measuring: true })).then(
    (result) => port.postMessage({ result }),
    (err: unknown) =>
      port.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  )
}
