// A round's facts → the TrackHolePunchRequest the server stores (docs/ARCHITECTURE.md, "The
// API"). Pure: no clock, no I/O. Every `required` field is set (protobuf-es refuses to encode
// the message otherwise, and Go peers reject it), and what the server validates holds by
// construction: Unix-ns timestamps in order, no UNKNOWN outcome, rtt_errs parallel to rtts, no
// -1 RTTs, every list within the server's limits (src/lib/report-limits.ts, the same module the
// server checks with), and no text a remote chose longer than maxRemoteTextChars or with NUL.
import { create } from '@bufbuild/protobuf'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  type HolePunchAttempt,
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  type LatencyMeasurement,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  NATMappingSchema,
  type NatBehaviour as NatBehaviourMessage,
  NatBehaviourSchema,
  NatMappingBehaviour,
  NetworkInformationSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../gen/punchr_pb.js'
import { LIMITS } from '../lib/report-limits.js'
import { remoteProtocols, remoteText } from '../lib/text.js'
import type { MappingBehaviour, NatBehaviour } from './nat-behaviour.js'
import type { PortMapping } from './port-mapping.js'
import type { AttemptOutcome, OverallOutcomeKind } from './tracer/index.js'

export type LatencyKind = keyof typeof LatencyMeasurementType

/** One series of pings to one peer over one connection. */
export interface LatencyRecord {
  kind: LatencyKind
  /** The pinged peer (binary peer ID). */
  peerId: Uint8Array
  agentVersion: string
  protocols: string[]
  /** The remote address of the connection the pings went over. */
  addr: Multiaddr
  /** Seconds; 0 where the ping failed. */
  rtts: number[]
  /** '' for a successful ping, else its error; parallel to `rtts`. */
  errors: string[]
}

export interface RoundRecord {
  /** Our host (binary peer ID). */
  clientId: Uint8Array
  remoteId: Uint8Array
  /** The relay addresses of the relayed dial. */
  relayAddrs: Multiaddr[]
  connectStartedAt: bigint
  connectEndedAt: bigint
  attempts: AttemptOutcome[]
  /** Remote addresses of every connection to the remote at the end. */
  openAddrs: Multiaddr[]
  hasDirectConns: boolean
  outcome: OverallOutcomeKind
  error?: string
  endedAt: bigint
  /** Our host's own addresses. */
  listenAddrs: Multiaddr[]
  apiKey: string
  /** The protocol filter applied (multicodec codes). */
  protocols: number[]
  latencies: LatencyRecord[]
  /** What the client found out about its network (ip-families.ts); absent = nothing. */
  network?: NetworkFacts
  /** The host's NAT mapping behaviour per path (nat-behaviour.ts); absent = not classified. */
  natBehaviours?: readonly NatBehaviour[]
  /** The gateway's mappings of the host's listening ports (port-mapping.ts). */
  natMappings?: readonly Pick<
    PortMapping,
    'internalPort' | 'externalPort' | 'protocol' | 'addr' | 'addrNetwork'
  >[]
}

/** Facts about the client's network a report carries (`network_information`). */
export interface NetworkFacts {
  /** Whether the machine can reach the internet over IPv6, and why not. */
  supportsIpv6: boolean
  supportsIpv6Error?: string
  /**
   * The home router's fingerprint (router-probe.ts), sent in `router_login_html` where the
   * original client sent the whole page; or why there is none, in `router_login_html_error`.
   */
  routerFingerprint?: string
  routerProbeError?: string
}

export function buildReport(round: RoundRecord): TrackHolePunchRequest {
  const report = create(TrackHolePunchRequestSchema, {
    clientId: round.clientId,
    remoteId: round.remoteId,
    remoteMultiAddresses: addrBytes(round.relayAddrs),
    connectStartedAt: round.connectStartedAt,
    connectEndedAt: round.connectEndedAt,
    holePunchAttempts: round.attempts.slice(0, LIMITS.maxAttempts).map(toAttempt),
    openMultiAddresses: addrBytes(round.openAddrs),
    hasDirectConns: round.hasDirectConns,
    outcome: HolePunchOutcome[round.outcome],
    endedAt: round.endedAt,
    listenMultiAddresses: addrBytes(round.listenAddrs),
    apiKey: round.apiKey,
    protocols: round.protocols,
    latencyMeasurements: round.latencies.slice(0, LIMITS.maxLatencyMeasurements).map(toLatency),
    natBehaviours: (round.natBehaviours ?? []).slice(0, LIMITS.maxNatBehaviours).map(toNatBehaviour),
    natMappings: (round.natMappings ?? []).slice(0, LIMITS.maxNatMappings).map((m) =>
      create(NATMappingSchema, {
        internalPort: m.internalPort,
        externalPort: m.externalPort,
        protocol: m.protocol,
        addr: m.addr,
        addrNetwork: m.addrNetwork,
      }),
    ),
  })
  if (round.network !== undefined) {
    report.networkInformation = create(NetworkInformationSchema, {
      supportsIpv6: round.network.supportsIpv6,
      ...(round.network.supportsIpv6Error === undefined
        ? {}
        : { supportsIpv6Error: remoteText(round.network.supportsIpv6Error) }),
      ...(round.network.routerFingerprint === undefined
        ? {}
        : { routerLoginHtml: round.network.routerFingerprint }),
      ...(round.network.routerProbeError === undefined
        ? {}
        : { routerLoginHtmlError: remoteText(round.network.routerProbeError) }),
    })
  }
  if (round.error !== undefined && round.error !== '') report.error = remoteText(round.error)
  return report
}

/** One attempt as the wire wants it (the tracer already leaves out a start that never happened). */
export function toAttempt(attempt: AttemptOutcome): HolePunchAttempt {
  const message = create(HolePunchAttemptSchema, {
    openedAt: attempt.openedAt,
    endedAt: attempt.endedAt,
    elapsedTime: attempt.elapsedTime,
    outcome: HolePunchAttemptOutcome[attempt.outcome],
    multiAddresses: addrBytes(attempt.multiAddresses),
  })
  if (attempt.startedAt !== undefined) message.startedAt = attempt.startedAt
  if (attempt.startRtt !== undefined) message.startRtt = attempt.startRtt
  if (attempt.error !== undefined) message.error = remoteText(attempt.error)
  if (attempt.directDialError !== undefined) message.directDialError = remoteText(attempt.directDialError)
  return message
}

function toLatency(latency: LatencyRecord): LatencyMeasurement {
  const pings = latency.rtts.slice(0, LIMITS.maxRttsPerMeasurement)
  return create(LatencyMeasurementSchema, {
    remoteId: latency.peerId,
    agentVersion: remoteText(latency.agentVersion),
    protocols: remoteProtocols(latency.protocols),
    multiAddress: latency.addr.bytes,
    rtts: pings.map((rtt, i) => (latency.errors[i] === '' ? rtt : 0)),
    rttErrs: latency.errors.slice(0, pings.length).map(remoteText),
    mtype: LatencyMeasurementType[latency.kind],
  })
}

const MAPPING_ON_WIRE: Readonly<Record<MappingBehaviour, NatMappingBehaviour>> = {
  'endpoint-independent': NatMappingBehaviour.ENDPOINT_INDEPENDENT,
  'address-dependent': NatMappingBehaviour.ADDRESS_DEPENDENT,
  'address-and-port-dependent': NatMappingBehaviour.ADDRESS_AND_PORT_DEPENDENT,
  'endpoint-dependent': NatMappingBehaviour.ENDPOINT_DEPENDENT,
  unknown: NatMappingBehaviour.UNKNOWN,
}

function toNatBehaviour(behaviour: NatBehaviour): NatBehaviourMessage {
  const [family, transport] = behaviour.path.split('/')
  const message = create(NatBehaviourSchema, {
    transport,
    ipVersion: family === 'ip6' ? 6 : 4,
    mapping: MAPPING_ON_WIRE[behaviour.mapping],
    observations: behaviour.observations,
    observerIps: behaviour.observerIps,
  })
  if (behaviour.portPreserved !== undefined) message.portPreserved = behaviour.portPreserved
  return message
}

function addrBytes(addrs: readonly Multiaddr[]): Uint8Array[] {
  return addrs.slice(0, LIMITS.maxAddressesPerList).map((a) => a.bytes)
}
