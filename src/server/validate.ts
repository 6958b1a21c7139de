import type { DescMessage, MessageShape } from '@bufbuild/protobuf'
import { isFieldSet } from '@bufbuild/protobuf'
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt'
import type { AttemptRecord, HolePunchReport, LatencyRecord } from '../db/hole-punches.js'
import {
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  LatencyMeasurementType,
  NetworkInformationSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../gen/punchr_pb.js'
import { type ClassifiedMultiaddr, classifyMultiaddrBytes, PROTOCOL_CODES } from '../lib/multiaddr.js'
import { parsePeerIdBytesCached } from '../lib/peer-id.js'
import { EARLIEST_TIMESTAMP_NS, LIMITS, MAX_CLOCK_AHEAD_NS } from '../lib/report-limits.js'
import { nsToIsoMicros } from '../lib/time.js'
import { natBehavioursField, roundNatMapping } from './nat-behaviours.js'
import { ValidationError } from './validation-error.js'

// Field descriptors for presence checks of optional fields.
const HOLE_PUNCH_ATTEMPT_STARTED_AT = HolePunchAttemptSchema.field.startedAt
const HOLE_PUNCH_ATTEMPT_START_RTT = HolePunchAttemptSchema.field.startRtt
const HOLE_PUNCH_ATTEMPT_ERROR = HolePunchAttemptSchema.field.error
const HOLE_PUNCH_ATTEMPT_DIRECT_DIAL_ERROR = HolePunchAttemptSchema.field.directDialError
const TRACK_ERROR = TrackHolePunchRequestSchema.field.error
const NI = NetworkInformationSchema.field

/**
 * protobuf-es does not reject a proto2 message whose `required` fields are missing (Go peers
 * do), so every request is checked here, recursively, before anything else looks at it.
 * Field paths use proto names: `hole_punch_attempts[0].opened_at`.
 */
export function assertRequiredFields<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  path = '',
): void {
  for (const field of schema.fields) {
    const name = `${path}${field.name}`
    if (field.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED && !isFieldSet(message, field)) {
      throw new ValidationError(name, 'required field is missing')
    }
    const value = (message as Record<string, unknown>)[field.localName]
    if (field.fieldKind === 'message' && isFieldSet(message, field)) {
      assertRequiredFields(field.message, value as MessageShape<DescMessage>, `${name}.`)
    }
    if (field.fieldKind === 'list' && field.listKind === 'message') {
      for (const [i, item] of (value as MessageShape<DescMessage>[]).entries())
        assertRequiredFields(field.message, item, `${name}[${i}].`)
    }
  }
}

export function peerIdField(bytes: Uint8Array, field: string): string {
  try {
    return parsePeerIdBytesCached(bytes)
  } catch (err) {
    throw new ValidationError(field, err instanceof Error ? err.message : String(err))
  }
}

export function multiaddrField(bytes: Uint8Array, field: string): ClassifiedMultiaddr {
  try {
    return classifyMultiaddrBytes(bytes)
  } catch (err) {
    throw new ValidationError(field, err instanceof Error ? err.message : String(err))
  }
}

export function multiaddrList(list: readonly Uint8Array[], field: string): ClassifiedMultiaddr[] {
  assertMaxCount(list, LIMITS.maxAddressesPerList, field)
  return list.map((bytes, i) => multiaddrField(bytes, `${field}[${i}]`))
}

export function assertMaxCount(list: readonly unknown[], max: number, field: string): void {
  if (list.length > max) throw new ValidationError(field, `too many entries: ${list.length} > ${max}`)
}

export function assertNonEmpty(value: string, field: string): void {
  if (value.trim() === '') throw new ValidationError(field, 'must not be empty')
}

const FILTER_CODES = new Set<number>(Object.values(PROTOCOL_CODES))

export function protocolFilterField(codes: readonly number[], field: string): number[] {
  assertMaxCount(codes, 8, field)
  for (const [i, code] of codes.entries()) {
    if (!FILTER_CODES.has(code))
      throw new ValidationError(
        `${field}[${i}]`,
        `unknown protocol code ${code} (expected one of ${[...FILTER_CODES].join(', ')})`,
      )
  }
  return [...codes]
}

/** Converts a Unix-nanosecond timestamp to an ISO string (µs precision) after checking it is plausible. */
export function timestampField(ns: bigint, field: string, nowNs: bigint): string {
  if (ns < EARLIEST_TIMESTAMP_NS) {
    throw new ValidationError(
      field,
      `timestamp ${ns} is before 2015; timestamps are Unix nanoseconds (seconds, milliseconds or microseconds sent?)`,
    )
  }
  if (ns > nowNs + MAX_CLOCK_AHEAD_NS)
    throw new ValidationError(field, `timestamp ${ns} is more than a day in the future`)
  return nsToIsoMicros(ns)
}

function secondsField(value: number, field: string, max: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new ValidationError(field, `must be a finite number of seconds ≥ 0, got ${value}`)
  if (value > max)
    throw new ValidationError(field, `${value} s is implausibly large (> ${max} s); durations are seconds`)
  return value
}

function assertOrder(
  earlier: bigint,
  later: bigint,
  earlierName: string,
  laterName: string,
  field: string,
): void {
  if (later < earlier)
    throw new ValidationError(
      field,
      `out of order: ${laterName} (${later}) is before ${earlierName} (${earlier})`,
    )
}

function optionalString(set: boolean, value: string): string | null {
  return set ? value : null
}

function enumName<E extends Record<string, string | number>>(
  enumObject: E,
  value: number,
  field: string,
): keyof E & string {
  const name = (enumObject as Record<number, string>)[value]
  if (name === undefined) throw new ValidationError(field, `unknown enum value ${value}`)
  return name as keyof E & string
}

/**
 * An outcome the client actually determined: UNKNOWN is the proto default a client sends when
 * it forgot the field (protobufjs fills omitted required fields with defaults), never a result.
 */
function outcomeField<E extends Record<string, string | number>>(
  enumObject: E,
  value: number,
  field: string,
): keyof E & string {
  const name = enumName(enumObject, value, field)
  if (name === 'UNKNOWN')
    throw new ValidationError(
      field,
      'UNKNOWN is not an outcome; set the outcome the round (or attempt) ended with',
    )
  return name
}

const NS_PER_SECOND = 1e9

/**
 * Checks a TrackHolePunchRequest against the wire contract (docs/PROTOCOL.md, "Wire API") and
 * maps it to the storage shape.
 * Everything a report contains is kept; nothing is rewritten except the documented
 * normalisations (empty rtt_errs from old clients become per-ping errors for negative
 * RTT sentinels).
 */
export function toHolePunchReport(
  req: TrackHolePunchRequest,
  nowNs: bigint,
): Omit<HolePunchReport, 'clientId' | 'reportSha256' | 'clientImplementation' | 'quirks'> {
  const connectStartedAt = timestampField(req.connectStartedAt, 'connect_started_at', nowNs)
  const connectEndedAt = timestampField(req.connectEndedAt, 'connect_ended_at', nowNs)
  const endedAt = timestampField(req.endedAt, 'ended_at', nowNs)
  assertOrder(
    req.connectStartedAt,
    req.connectEndedAt,
    'connect_started_at',
    'connect_ended_at',
    'connect_ended_at',
  )
  assertOrder(req.connectEndedAt, req.endedAt, 'connect_ended_at', 'ended_at', 'ended_at')

  assertMaxCount(req.holePunchAttempts, LIMITS.maxAttempts, 'hole_punch_attempts')
  let previousOpened = 0n
  const attempts: AttemptRecord[] = req.holePunchAttempts.map((a, i) => {
    const field = `hole_punch_attempts[${i}]`
    const openedAt = timestampField(a.openedAt, `${field}.opened_at`, nowNs)
    const endedAtAttempt = timestampField(a.endedAt, `${field}.ended_at`, nowNs)
    const hasStart = isFieldSet(a, HOLE_PUNCH_ATTEMPT_STARTED_AT)
    const startedAt = hasStart ? timestampField(a.startedAt, `${field}.started_at`, nowNs) : null
    // The dcutr stream can only open once the relayed connection exists, and every attempt
    // lies within the round.
    assertOrder(req.connectStartedAt, a.openedAt, 'connect_started_at', 'opened_at', `${field}.opened_at`)
    assertOrder(
      previousOpened,
      a.openedAt,
      `hole_punch_attempts[${i - 1}].opened_at`,
      'opened_at',
      `${field}.opened_at`,
    )
    if (hasStart) {
      assertOrder(a.openedAt, a.startedAt, 'opened_at', 'started_at', `${field}.started_at`)
      assertOrder(a.startedAt, a.endedAt, 'started_at', 'ended_at', `${field}.ended_at`)
    }
    assertOrder(a.openedAt, a.endedAt, 'opened_at', 'ended_at', `${field}.ended_at`)
    assertOrder(a.endedAt, req.endedAt, `${field}.ended_at`, 'ended_at', 'ended_at')
    previousOpened = a.openedAt
    const elapsed = secondsField(a.elapsedTime, `${field}.elapsed_time`, LIMITS.maxDurationSeconds)
    // elapsed_time is measured within [opened_at, ended_at]; a value far beyond that span is
    // a unit error (the Rust client once sent microseconds as seconds).
    const span = Number(a.endedAt - a.openedAt) / NS_PER_SECOND
    if (elapsed > span + 1)
      throw new ValidationError(
        `${field}.elapsed_time`,
        `${elapsed} s exceeds the attempt's span of ${span.toFixed(3)} s; durations are seconds`,
      )
    const hasRtt = isFieldSet(a, HOLE_PUNCH_ATTEMPT_START_RTT)
    return {
      openedAt,
      startedAt,
      endedAt: endedAtAttempt,
      startRtt: hasRtt ? secondsField(a.startRtt, `${field}.start_rtt`, LIMITS.maxRttSeconds) : null,
      elapsedTime: elapsed,
      outcome: outcomeField(HolePunchAttemptOutcome, a.outcome, `${field}.outcome`),
      error: optionalString(isFieldSet(a, HOLE_PUNCH_ATTEMPT_ERROR), a.error),
      directDialError: optionalString(isFieldSet(a, HOLE_PUNCH_ATTEMPT_DIRECT_DIAL_ERROR), a.directDialError),
      multiAddresses: multiaddrList(a.multiAddresses, `${field}.multi_addresses`),
    }
  })

  assertMaxCount(req.latencyMeasurements, LIMITS.maxLatencyMeasurements, 'latency_measurements')
  const latencies: LatencyRecord[] = req.latencyMeasurements.map((m, i) => {
    const field = `latency_measurements[${i}]`
    assertMaxCount(m.rtts, LIMITS.maxRttsPerMeasurement, `${field}.rtts`)
    assertMaxCount(m.protocols, LIMITS.maxProtocols, `${field}.protocols`)
    if (m.rttErrs.length !== 0 && m.rttErrs.length !== m.rtts.length) {
      throw new ValidationError(
        `${field}.rtt_errs`,
        `has ${m.rttErrs.length} entries but rtts has ${m.rtts.length}; they are parallel lists`,
      )
    }
    // Old clients sent no rtt_errs and marked a failed ping with RTT -1; a client that does
    // send rtt_errs must report a real RTT for every ping it calls successful.
    const legacy = m.rttErrs.length === 0
    const rttErrs = m.rtts.map((rtt, j) =>
      legacy ? (rtt < 0 ? 'ping failed (negative RTT sentinel)' : '') : m.rttErrs[j]!,
    )
    for (const [j, rtt] of m.rtts.entries()) {
      if (rttErrs[j] === '') secondsField(rtt, `${field}.rtts[${j}]`, LIMITS.maxRttSeconds)
      else if (!Number.isFinite(rtt))
        throw new ValidationError(`${field}.rtts[${j}]`, `must be finite, got ${rtt}`)
    }
    return {
      remoteId: peerIdField(m.remoteId, `${field}.remote_id`),
      agentVersion: m.agentVersion,
      protocols: [...m.protocols],
      multiAddress: multiaddrField(m.multiAddress, `${field}.multi_address`),
      rtts: [...m.rtts],
      rttErrs,
      mtype: enumName(LatencyMeasurementType, m.mtype, `${field}.mtype`),
    }
  })

  assertMaxCount(req.natMappings, LIMITS.maxNatMappings, 'nat_mappings')
  const natMappings = req.natMappings.map((m, i) => {
    for (const [name, port] of [
      ['internal_port', m.internalPort],
      ['external_port', m.externalPort],
    ] as const) {
      if (port < 0 || port > 65535)
        throw new ValidationError(`nat_mappings[${i}].${name}`, `port ${port} is outside 0–65535`)
    }
    return {
      internalPort: m.internalPort,
      externalPort: m.externalPort,
      protocol: m.protocol,
      addr: m.addr,
      addrNetwork: m.addrNetwork,
    }
  })

  const natBehaviours = natBehavioursField(req.natBehaviours)
  const ni = req.networkInformation
  return {
    remoteId: peerIdField(req.remoteId, 'remote_id'),
    remoteMultiAddresses: multiaddrList(req.remoteMultiAddresses, 'remote_multi_addresses'),
    connectStartedAt,
    connectEndedAt,
    attempts,
    openMultiAddresses: multiaddrList(req.openMultiAddresses, 'open_multi_addresses'),
    hasDirectConns: req.hasDirectConns,
    error: optionalString(isFieldSet(req, TRACK_ERROR), req.error),
    outcome: outcomeField(HolePunchOutcome, req.outcome, 'outcome'),
    endedAt,
    listenMultiAddresses: multiaddrList(req.listenMultiAddresses, 'listen_multi_addresses'),
    protocols: protocolFilterField(req.protocols, 'protocols'),
    latencies,
    networkInformation:
      ni === undefined
        ? null
        : {
            routerLoginHtml: optionalString(isFieldSet(ni, NI.routerLoginHtml), ni.routerLoginHtml),
            routerLoginHtmlError: optionalString(
              isFieldSet(ni, NI.routerLoginHtmlError),
              ni.routerLoginHtmlError,
            ),
            supportsIpv6: isFieldSet(ni, NI.supportsIpv6) ? ni.supportsIpv6 : null,
            supportsIpv6Error: optionalString(isFieldSet(ni, NI.supportsIpv6Error), ni.supportsIpv6Error),
          },
    natMappings,
    natBehaviours,
    clientNatMapping: roundNatMapping(natBehaviours, req.protocols),
  }
}
