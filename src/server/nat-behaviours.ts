// The `nat_behaviours` extension of TrackHolePunch (field 100, docs/PROTOCOL.md, "Extensions"):
// only our client sends it, so it is held to the letter, and the server derives from it the
// mapping behaviour on the round's own path, the key the dashboard groups results by.
import { isFieldSet } from '@bufbuild/protobuf'
import type { NatBehaviourRecord } from '../db/hole-punches.js'
import { type NatBehaviour, NatBehaviourSchema, NatMappingBehaviour } from '../gen/punchr_pb.js'
import { filterIpVersion, filterTransport } from '../lib/multiaddr.js'
import { LIMITS } from '../lib/report-limits.js'
import { ValidationError } from './validation-error.js'

const TRANSPORTS = new Set(['tcp', 'quic'])
const IP_VERSIONS = new Set([4, 6])
/** A host has a handful of bootstrap connections per path; more is not an honest count. */
const MAX_OBSERVATIONS = 1024

export function natBehavioursField(list: readonly NatBehaviour[]): NatBehaviourRecord[] {
  if (list.length > LIMITS.maxNatBehaviours)
    throw new ValidationError(
      'nat_behaviours',
      `too many entries: ${list.length} > ${LIMITS.maxNatBehaviours}`,
    )
  const paths = new Set<string>()
  return list.map((b, i) => {
    const field = `nat_behaviours[${i}]`
    if (!TRANSPORTS.has(b.transport))
      throw new ValidationError(
        `${field}.transport`,
        `must be tcp or quic, got ${JSON.stringify(b.transport.slice(0, 20))}`,
      )
    if (!IP_VERSIONS.has(b.ipVersion))
      throw new ValidationError(`${field}.ip_version`, `must be 4 or 6, got ${b.ipVersion}`)
    const path = `${b.transport}/${b.ipVersion}`
    if (paths.has(path))
      throw new ValidationError(field, `a second entry for ${b.transport} over IPv${b.ipVersion}`)
    paths.add(path)
    const name = NatMappingBehaviour[b.mapping]
    if (name === undefined) throw new ValidationError(`${field}.mapping`, `unknown enum value ${b.mapping}`)
    for (const [key, value] of [
      ['observations', b.observations],
      ['observer_ips', b.observerIps],
    ] as const) {
      if (value < 0 || value > MAX_OBSERVATIONS)
        throw new ValidationError(`${field}.${key}`, `${value} is outside 0–${MAX_OBSERVATIONS}`)
    }
    if (b.observerIps > b.observations)
      throw new ValidationError(
        `${field}.observer_ips`,
        `${b.observerIps} observer IPs but only ${b.observations} observations`,
      )
    // Fewer than two observer IPs cannot tell a mapping behaviour (docs/OUTCOMES.md).
    if (b.observerIps < 2 && b.mapping !== NatMappingBehaviour.UNKNOWN)
      throw new ValidationError(
        `${field}.mapping`,
        `${name} from ${b.observerIps} observer IP(s); it takes two or more, else UNKNOWN`,
      )
    return {
      transport: b.transport,
      ipVersion: b.ipVersion,
      mapping: name.toLowerCase().replaceAll('_', '-'),
      portPreserved: isFieldSet(b, NatBehaviourSchema.field.portPreserved) ? b.portPreserved : null,
      observations: b.observations,
      observerIps: b.observerIps,
    }
  })
}

/**
 * The client's mapping behaviour on the round's path: the transport and IP version of its
 * protocol filter (any, where the filter leaves one open). Null without entries (other
 * clients); `unknown` where there is none for the path; `mixed` where an open filter covers
 * paths that disagree (a symmetric IPv4 NAT beside untranslated IPv6, say).
 */
export function roundNatMapping(
  behaviours: readonly NatBehaviourRecord[],
  protocols: readonly number[],
): string | null {
  if (behaviours.length === 0) return null
  const transport = filterTransport(protocols)
  const ipVersion = filterIpVersion(protocols)
  const mappings = new Set(
    behaviours
      .filter(
        (b) =>
          (transport === undefined || b.transport === transport) &&
          (ipVersion === undefined || b.ipVersion === ipVersion),
      )
      .map((b) => b.mapping),
  )
  if (mappings.size === 0) return 'unknown'
  return mappings.size === 1 ? [...mappings][0]! : 'mixed'
}
