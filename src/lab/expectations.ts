import { expectedOutcome, NAT_PROFILES, type NatType, type Transport } from './nat-profiles.js'
import type { HostSpec, LabOutcome, Scenario } from './scenario.js'

export interface Expected {
  outcome: LabOutcome
  /** `ground-truth` = from the NAT profiles; `scenario` = an `expect` entry of the scenario. */
  source: 'ground-truth' | 'scenario'
  reason: string
}

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
  return {
    outcome: expectedOutcome(clientHome.nat, remoteHome.nat, transport),
    source: 'ground-truth',
    reason: `${describeNat(clientHome.nat)} client, ${describeNat(remoteHome.nat)} remote`,
  }
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
