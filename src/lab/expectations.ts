import { expectedOutcome, NAT_PROFILES, type NatType, type Transport } from './nat-profiles.js'
import type { HostImpl, HostSpec, LabOutcome, Scenario } from './scenario.js'

export interface Expected {
  outcome: LabOutcome
  /**
   * `ground-truth` = from the NAT profiles; `implementations` = a pair of implementations that
   * cannot punch whatever the NATs (IMPLEMENTATION_LIMITS); `scenario` = an `expect` entry.
   */
  source: 'ground-truth' | 'implementations' | 'scenario'
  reason: string
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
 * NAT ground truth of their home networks.
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
