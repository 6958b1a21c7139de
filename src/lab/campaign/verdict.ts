import type { RemoteBehaviour } from '../behaviours.js'
import {
  agreesWith,
  type Expected,
  expectedFor,
  expectedNatMapping,
  type RoundIpVersion,
} from '../expectations.js'
import type { Transport } from '../nat-profiles.js'
import type { HostImpl, Scenario } from '../scenario.js'
import type { MeasuredRound } from './measured-round.js'
import { type ClientFacts, roundProblems } from './round-checks.js'

/**
 * Compares a campaign's stored rounds with the lab's ground truth. Pure: the campaign runner
 * feeds it what the database holds, tests feed it hand-made rounds.
 */

/** Outcomes that say nothing about the NATs: the campaign stopped the round itself. */
const NOT_JUDGED = new Set(['CANCELLED'])

export interface JudgedRound {
  round: MeasuredRound
  expected: Expected | undefined
  /**
   * undefined = not judged (cancelled round, or a remote the lab does not know); false when the
   * outcome differs or the round broke a rule (`problems`).
   */
  agrees: boolean | undefined
  /** Rules the round broke (round-checks.ts): an unbounded round, a foreign dial, … */
  problems: string[]
}

/**
 * One line of the table: rounds of one (IP version, client NAT, remote NAT, remote impl,
 * transport, expected outcome). The NATs are the homes' IPv6 profiles (`nat6`) on IPv6 rows,
 * both profiles (`cone / firewall`) on rows that punched both versions.
 */
export interface VerdictGroup {
  ipVersion: RoundIpVersion
  clientNat: string
  remoteNat: string
  /** The remote's libp2p implementation. */
  remoteImpl: HostImpl
  /** How the remote misbehaves, if it does. */
  remoteBehaviour: RemoteBehaviour | undefined
  transport: Transport
  expected: string
  rounds: number
  /** Measured outcome → count. */
  measured: Record<string, number>
  /** Successful rounds whose first attempt succeeded. */
  firstAttemptSuccesses: number
  agree: number
  disagree: number
  notJudged: number
}

export interface Verdict {
  rounds: JudgedRound[]
  groups: VerdictGroup[]
  agree: number
  disagree: number
  notJudged: number
  /** Why the campaign failed, one reason per line; empty when it passed. */
  problems: string[]
}

/**
 * @param publicIps each remote host's public IP (the lab plan's): a round of our client may
 *   dial no other. Without it that rule is not checked.
 */
export function judge(
  scenario: Scenario,
  rounds: readonly MeasuredRound[],
  publicIps: ReadonlyMap<string, readonly string[]> = new Map(),
  gateways: ReadonlyMap<string, NonNullable<ClientFacts['gateway']>> = new Map(),
): Verdict {
  const hosts = new Map(
    scenario.homes.flatMap((home) => home.hosts.map((h) => [h.name, { home, h }] as const)),
  )
  const natOf = new Map([...hosts].map(([name, { home }]) => [name, home.nat]))
  // Without IPv6 in the lab every round is an IPv4 one, whatever its stored addresses say; a
  // round with a host of an IPv6-only (or IPv4-only) home is one of that version, even when it
  // punched nothing to tell.
  const ipVersionOf = (round: MeasuredRound): RoundIpVersion => {
    if (scenario.internet6 === undefined) return 4
    const homes = [round.client, round.remote].flatMap((host) => hosts.get(host ?? '')?.home ?? [])
    if (homes.some((home) => home.nat === undefined)) return 6
    if (homes.some((home) => home.nat6 === undefined)) return 4
    return round.ipVersion
  }
  const natText = (host: string, ipVersion: RoundIpVersion): string | undefined => {
    const home = hosts.get(host)?.home
    if (home === undefined) return undefined
    if (home.nat === undefined) return `${home.nat6} (IPv6 only)`
    if (ipVersion === 4 || home.nat6 === undefined) return home.nat
    return ipVersion === 6 ? home.nat6 : `${home.nat} / ${home.nat6}`
  }
  const judged = rounds.map((round): JudgedRound => {
    const remote = round.remote === undefined ? undefined : hosts.get(round.remote)?.h
    const remoteIps = round.remote === undefined ? undefined : publicIps.get(round.remote)
    const problems = roundProblems(
      round,
      remote === undefined || remoteIps === undefined
        ? undefined
        : {
            publicIps: remoteIps,
            ...(remote.behaviour === undefined ? {} : { behaviour: remote.behaviour }),
          },
      natOf.has(round.client)
        ? {
            natMapping: expectedNatMapping(
              scenario,
              round.client,
              scenario.internet6 === undefined ? 4 : round.filterIpVersion,
              round.filterTransport,
            ),
            // Every client's IPv4 router serves the login page; an IPv6-only home has none.
            routerPage: ![undefined, 'none'].includes(hosts.get(round.client)?.home.nat),
            ...(gateways.has(round.client) ? { gateway: gateways.get(round.client)! } : {}),
          }
        : undefined,
    )
    if (round.remote === undefined || !natOf.has(round.client))
      return { round, expected: undefined, agrees: undefined, problems }
    const expected = expectedFor(scenario, round.client, round.remote, round.transport, ipVersionOf(round))
    const agrees = NOT_JUDGED.has(round.outcome)
      ? undefined
      : agreesWith(expected, round.outcome) && problems.length === 0
    return { round, expected, agrees, problems }
  })

  const groups = new Map<string, VerdictGroup>()
  for (const { round, expected, agrees } of judged) {
    const ipVersion = ipVersionOf(round)
    const clientNat = natText(round.client, ipVersion)
    const remoteNat = round.remote === undefined ? undefined : natText(round.remote, ipVersion)
    if (clientNat === undefined || remoteNat === undefined || expected === undefined) continue
    const remoteHost = hosts.get(round.remote!)!.h
    const remoteImpl = remoteHost.impl
    const remoteBehaviour = remoteHost.behaviour
    const key = [
      ipVersion,
      clientNat,
      remoteNat,
      remoteImpl,
      remoteBehaviour,
      round.transport,
      expected.outcome,
    ].join('|')
    let group = groups.get(key)
    if (group === undefined) {
      group = {
        ipVersion,
        clientNat,
        remoteNat,
        remoteImpl,
        remoteBehaviour,
        transport: round.transport,
        expected: expected.outcome,
        rounds: 0,
        measured: {},
        firstAttemptSuccesses: 0,
        agree: 0,
        disagree: 0,
        notJudged: 0,
      }
      groups.set(key, group)
    }
    group.rounds++
    group.measured[round.outcome] = (group.measured[round.outcome] ?? 0) + 1
    if (round.outcome === 'SUCCESS' && round.attempts[0]?.outcome === 'SUCCESS') group.firstAttemptSuccesses++
    if (agrees === true) group.agree++
    else if (agrees === false) group.disagree++
    else group.notJudged++
  }

  const count = (value: boolean | undefined) => judged.filter((j) => j.agrees === value).length
  const verdict: Verdict = {
    rounds: judged,
    groups: [...groups.values()].sort(
      (a, b) =>
        String(a.ipVersion).localeCompare(String(b.ipVersion)) ||
        a.clientNat.localeCompare(b.clientNat) ||
        a.remoteNat.localeCompare(b.remoteNat) ||
        a.remoteImpl.localeCompare(b.remoteImpl) ||
        (a.remoteBehaviour ?? '').localeCompare(b.remoteBehaviour ?? '') ||
        a.transport.localeCompare(b.transport) ||
        a.expected.localeCompare(b.expected),
    ),
    agree: count(true),
    disagree: count(false),
    notJudged: count(undefined),
    problems: [],
  }
  if (rounds.length === 0) verdict.problems.push('no round was stored: see the client and server logs')
  else if (verdict.agree + verdict.disagree === 0) verdict.problems.push('no round could be judged')
  for (const j of judged) {
    if (j.round.remote === undefined)
      verdict.problems.push(`round ${j.round.id}: remote ${j.round.remotePeer} is none of the lab's remotes`)
    else if (j.agrees === false && !agreesWith(j.expected!, j.round.outcome))
      verdict.problems.push(
        `round ${j.round.id}: ${j.round.client} → ${j.round.remote} over ${j.round.transport}` +
          `${scenario.internet6 === undefined ? '' : ipText(ipVersionOf(j.round))} measured ` +
          `${j.round.outcome}, expected ${expectedText(j.expected!)}` +
          (j.round.error === null ? '' : `; error: ${j.round.error}`),
      )
    for (const problem of j.problems)
      verdict.problems.push(
        `round ${j.round.id}: ${j.round.client} → ${j.round.remote ?? j.round.remotePeer} ${problem}`,
      )
  }
  return verdict
}

function ipText(ipVersion: RoundIpVersion): string {
  return ipVersion === 'any' ? ' on IPv4 and IPv6' : ` on IPv${ipVersion}`
}

function expectedText(expected: Expected): string {
  const others = (expected.also ?? []).map((a) => ` or ${a.outcome} (${a.reason})`).join('')
  return `${expected.outcome} (${expected.reason})${others}`
}
