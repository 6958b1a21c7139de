import { BEHAVIOUR_TRUTH } from './behaviours.js'
import {
  type ExpectedOutcome,
  expectedOutcome,
  expectedOutcome6,
  NAT_PROFILES,
  NAT6_PROFILES,
  type Nat6Type,
  type NatType,
  type Transport,
} from './nat-profiles.js'
import type { HostImpl, HostSpec, LabOutcome, Scenario } from './scenario.js'

export interface Expected {
  outcome: LabOutcome
  /** Other outcomes that agree too, each with why (a misbehaving remote's alternatives). */
  also?: { outcome: LabOutcome; reason: string }[]
  /**
   * `ground-truth` = from the NAT profiles; `implementations` = a pair of implementations that
   * cannot punch whatever the NATs (IMPLEMENTATION_LIMITS); `behaviour` = what a misbehaving
   * remote leads to (behaviours.ts); `scenario` = an `expect` entry.
   */
  source: 'ground-truth' | 'implementations' | 'behaviour' | 'scenario'
  reason: string
}

/** Whether `outcome` is the expected one or one of its alternatives. */
export function agreesWith(expected: Expected, outcome: string): boolean {
  return outcome === expected.outcome || (expected.also ?? []).some((a) => a.outcome === outcome)
}

/**
 * Client and remote implementations that never get a direct connection, whatever the NATs
 * allow, each with what the lab measured (docs/INTEROP.md, "Old punchr clients").
 */
export const IMPLEMENTATION_LIMITS: readonly {
  client: HostImpl
  remote: HostImpl
  outcome: LabOutcome
  reason: string
}[] = [
  {
    client: 'go',
    remote: 'js',
    outcome: 'FAILED',
    reason:
      "the original Go client (go-libp2p 0.23) cannot dial js-libp2p 3's CONNECT addresses, which end in " +
      '/p2p/<id> ("no good addresses"), and without a SYN of its own its NAT drops the remote\'s',
  },
]

/** The IP version a round measured; `any` = not one: it punched both (no filter). */
export type RoundIpVersion = 4 | 6 | 'any'

/**
 * The outcome a measurement between two hosts of `scenario` should have: the first `expect`
 * entry that matches (client and remote by host or home network name, transport), else the
 * remote's misbehaviour when it decides the outcome, else the NAT ground truth of their homes
 * for the round's IP version: IPv4 by `nat`, IPv6 by `nat6`, and a round on both SUCCESS when
 * either version that both homes have would succeed.
 */
export function expectedFor(
  scenario: Scenario,
  client: string,
  remote: string,
  transport: Transport,
  ipVersion: RoundIpVersion = 4,
): Expected {
  const clientHome = homeOf(scenario, client)
  const remoteHome = homeOf(scenario, remote)
  const matches = (selector: string | undefined, host: string, home: string) =>
    selector === undefined || selector === host || selector === home
  for (const e of scenario.expect) {
    if (!matches(e.client, client, clientHome.name) || !matches(e.remote, remote, remoteHome.name)) continue
    if (e.transport !== undefined && e.transport !== transport) continue
    return { outcome: e.outcome, source: 'scenario', reason: e.reason ?? 'set by the scenario' }
  }
  const behaviour = remoteHome.host.behaviour
  const truth = behaviour === undefined ? undefined : BEHAVIOUR_TRUTH[behaviour].outcomes
  if (behaviour !== undefined && truth !== undefined) {
    const [first, ...others] = truth
    return {
      outcome: first!.outcome,
      ...(others.length > 0 ? { also: others } : {}),
      source: 'behaviour',
      reason: `a ${behaviour} remote: ${first!.reason}`,
    }
  }
  const { outcome, nats } = groundTruth(clientHome, remoteHome, transport, ipVersion)
  const limit = IMPLEMENTATION_LIMITS.find(
    (l) => l.client === clientHome.host.impl && l.remote === remoteHome.host.impl,
  )
  if (outcome === 'SUCCESS' && limit !== undefined)
    return { outcome: limit.outcome, source: 'implementations', reason: `${nats}, but ${limit.reason}` }
  return { outcome, source: 'ground-truth', reason: nats }
}

interface HostHome {
  name: string
  nat: NatType | undefined
  nat6: Nat6Type | undefined
  /** The router runs miniupnpd. */
  upnp: boolean
  host: HostSpec
}

function groundTruth(
  client: HostHome,
  remote: HostHome,
  transport: Transport,
  ipVersion: RoundIpVersion,
): { outcome: ExpectedOutcome; nats: string } {
  // Our client, whose gateway mapped its listening ports, offers the mapped addresses in
  // CONNECT (src/client/host.ts): the remote's dial to one reaches our listener through the
  // gateway's port forward, whatever either NAT does to other flows. (The original Go client
  // in the lab is not held to that.)
  const v4 =
    client.nat === undefined || remote.nat === undefined
      ? undefined
      : client.upnp && client.host.impl === 'js'
        ? {
            outcome: 'SUCCESS' as const,
            nats: `${describeNat(client.nat)} client with a UPnP port mapping the remote dials, ${describeNat(remote.nat)} remote`,
          }
        : {
            outcome: expectedOutcome(client.nat, remote.nat, transport),
            nats: `${describeNat(client.nat)} client, ${describeNat(remote.nat)} remote`,
          }
  const v6 =
    client.nat6 === undefined || remote.nat6 === undefined
      ? undefined
      : {
          outcome: expectedOutcome6(client.nat6, remote.nat6, transport),
          nats: `IPv6: ${describeNat6(client.nat6)} client, ${describeNat6(remote.nat6)} remote`,
        }
  // A round on a version one of the homes lacks cannot happen: judged by the other, it shows up.
  // The scenario validator makes sure every client shares a version with every remote.
  if (v4 === undefined || v6 === undefined) return (v4 ?? v6)!
  if (ipVersion === 4) return v4
  if (ipVersion === 6) return v6
  return {
    outcome: v4.outcome === 'SUCCESS' || v6.outcome === 'SUCCESS' ? 'SUCCESS' : 'FAILED',
    nats: `IPv4 and IPv6 punched at once: ${v4.nats} (${v4.outcome}); ${v6.nats} (${v6.outcome})`,
  }
}

/**
 * The NAT mapping behaviour our client must classify for `client` on a round of `ipVersion`
 * (undefined: a round whose filter left the version open, classified over every version the
 * host has): its router's mapping (RFC 4787), endpoint-independent without translation (the
 * host's own address, seen alike by everybody). Each relay comes with an observer at its IP
 * (the campaign), so two relays give the two observer IPs the classification needs and one
 * relay gives `unknown` (src/client/nat-behaviour.ts).
 */
export function expectedNatMapping(
  scenario: Scenario,
  client: string,
  ipVersion: 4 | 6 | undefined,
  transport: Transport | undefined,
): string | undefined {
  if (scenario.relays.length < 2) return 'unknown'
  const home = homeOf(scenario, client)
  // A UPnP gateway forwards the QUIC socket's port and keeps it as the source port of what
  // leaves from it, from the moment of the mapping: QUIC flows opened before keep their own
  // mapping, so the QUIC path has no one behaviour to expect. The TCP dial port is not mapped.
  if (home.upnp && ipVersion !== 6 && transport !== 'tcp') return undefined
  const of4 = home.nat === undefined ? [] : [NAT_PROFILES[home.nat].mapping ?? 'endpoint-independent']
  const of6 =
    home.nat6 === undefined || scenario.internet6 === undefined
      ? []
      : [NAT_PROFILES[NAT6_PROFILES[home.nat6].punchesLike].mapping ?? 'endpoint-independent']
  const mappings = new Set(ipVersion === 4 ? of4 : ipVersion === 6 ? of6 : [...of4, ...of6])
  if (mappings.size === 0) return 'unknown'
  return mappings.size === 1 ? [...mappings][0]! : 'mixed'
}

function homeOf(scenario: Scenario, host: string): HostHome {
  for (const home of scenario.homes) {
    const spec = home.hosts.find((h) => h.name === host)
    if (spec !== undefined)
      return { name: home.name, nat: home.nat, nat6: home.nat6, upnp: home.upnp, host: spec }
  }
  throw new Error(`host '${host}' is not part of scenario ${scenario.name}`)
}

function describeNat(nat: NatType): string {
  const mapping = NAT_PROFILES[nat].mapping
  return mapping === undefined ? 'public (no NAT)' : `${nat} (${mapping} mapping)`
}

function describeNat6(nat6: Nat6Type): string {
  return `${nat6} (punches like ${describeNat(NAT6_PROFILES[nat6].punchesLike)})`
}
