import { BEHAVIOUR_TRUTH } from './behaviours.js'
import { expectedOutcome, NAT_PROFILES, type NatType, type Transport } from './nat-profiles.js'
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

/**
 * The outcome a measurement between two hosts of `scenario` should have: the first `expect`
 * entry that matches (client and remote by host or home network name, transport), else the
 * remote's misbehaviour when it decides the outcome, else the NAT ground truth of their homes.
 */
export function expectedFor(
  scenario: Scenario,
  client: string,
  remote: string,
  transport: Transport,
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
  const nats = `${describeNat(clientHome.nat)} client, ${describeNat(remoteHome.nat)} remote`
  const outcome = expectedOutcome(clientHome.nat, remoteHome.nat, transport)
  const limit = IMPLEMENTATION_LIMITS.find(
    (l) => l.client === clientHome.host.impl && l.remote === remoteHome.host.impl,
  )
  if (outcome === 'SUCCESS' && limit !== undefined)
    return { outcome: limit.outcome, source: 'implementations', reason: `${nats}, but ${limit.reason}` }
  return { outcome, source: 'ground-truth', reason: nats }
}

function homeOf(scenario: Scenario, host: string): { name: string; nat: NatType; host: HostSpec } {
  for (const home of scenario.homes) {
    const spec = home.hosts.find((h) => h.name === host)
    if (spec !== undefined) return { name: home.name, nat: home.nat, host: spec }
  }
  throw new Error(`host '${host}' is not part of scenario ${scenario.name}`)
}

function describeNat(nat: NatType): string {
  const mapping = NAT_PROFILES[nat].mapping
  return mapping === undefined ? 'public (no NAT)' : `${nat} (${mapping} mapping)`
}
