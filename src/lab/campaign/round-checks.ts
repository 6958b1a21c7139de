import { MAX_ROUND_AFTER_CONNECT_MS } from '../../client/constants.js'
import { ROUTER_FINGERPRINT_PREFIX } from '../../client/router-probe.js'
import { MAX_ATTEMPTS_PER_ROUND } from '../../client/tracer/index.js'
import { BEHAVIOUR_TRUTH, type RemoteBehaviour } from '../behaviours.js'
import { LAB_ROUTER_PRIVATE_STRINGS, LAB_ROUTER_TITLE } from '../router-login-page.js'
import type { MeasuredRound } from './measured-round.js'

/**
 * What must never happen in a round of our client, whatever the remote does (docs/LAB.md,
 * "Misbehaving remotes"), and what a misbehaving remote's rounds must show beyond their
 * outcome. Pure: the verdict calls it with stored rounds and the lab's facts.
 */

/** Our client's implementation as the server stores it; other clients are not held to our rules. */
const OUR_CLIENT = 'punchr-ts'

/** Slack on the round's bound for clocks and the report being built. */
const ROUND_BOUND_SLACK_MS = 5_000

export interface RemoteFacts {
  /** The IPs the remote's packets come from (its router's WAN addresses, or its own). */
  publicIps: readonly string[]
  behaviour?: RemoteBehaviour
}

export interface ClientFacts {
  /** The NAT mapping behaviour our client must report on the round's path (expectations.ts); undefined = not checked. */
  natMapping: string | undefined
  /** The client's router serves the lab's login page (the campaign's startRouterPages). */
  routerPage: boolean
  /**
   * The client's router runs miniupnpd: its WAN address and every mapping it was seen holding
   * during the campaign (`tcp 4001 4001`); undefined = no UPnP gateway, so no mapping can exist.
   */
  gateway?: { addr: string; seen: ReadonlySet<string> }
}

/** Why `round` breaks a rule; empty when it keeps them all. */
export function roundProblems(
  round: MeasuredRound,
  remote: RemoteFacts | undefined,
  client?: ClientFacts,
): string[] {
  const problems: string[] = []
  if (round.clientImplementation === OUR_CLIENT) {
    if (client?.natMapping !== undefined && round.clientNatMapping !== client.natMapping)
      problems.push(
        `reported the client's NAT mapping as ${round.clientNatMapping ?? 'nothing'}, the lab's router maps ${client.natMapping}`,
      )
    if (client !== undefined) problems.push(...routerProblems(round, client.routerPage))
    if (client !== undefined) problems.push(...mappingProblems(round, client.gateway))
    const afterConnectMs = (round.endedUs - round.connectEndedUs) / 1000
    if (afterConnectMs > MAX_ROUND_AFTER_CONNECT_MS + ROUND_BOUND_SLACK_MS)
      problems.push(
        `ran ${(afterConnectMs / 1000).toFixed(1)} s after its relayed connection, past the bound of ${MAX_ROUND_AFTER_CONNECT_MS / 1000} s`,
      )
    if (round.attempts.length > MAX_ATTEMPTS_PER_ROUND)
      problems.push(
        `stored ${round.attempts.length} attempts, more than the cap of ${MAX_ATTEMPTS_PER_ROUND}`,
      )
    if (remote !== undefined) {
      const foreign = round.punchedAddrs.filter((addr) => !remote.publicIps.includes(ipOf(addr) ?? ''))
      if (foreign.length > 0)
        problems.push(
          `dialled ${foreign.join(', ')}, not the remote's own address (${remote.publicIps.join(', ')})`,
        )
    }
  }
  if (remote?.behaviour !== undefined) problems.push(...behaviourProblems(round, remote.behaviour))
  return problems
}

/**
 * The router facts of our client's report: a fingerprint of the lab router's login page, in
 * the format router-probe.ts makes, with the page's title and nothing private of it.
 */
function routerProblems(round: MeasuredRound, routerPage: boolean): string[] {
  const sent = round.routerLoginHtml
  if (sent === null)
    return routerPage
      ? [`reported no router fingerprint (${round.routerLoginHtmlError ?? 'no error either'})`]
      : []
  const problems: string[] = []
  if (!sent.startsWith(ROUTER_FINGERPRINT_PREFIX))
    problems.push('reported a router page that is no fingerprint')
  const leaked = LAB_ROUTER_PRIVATE_STRINGS.filter((text) => sent.includes(text))
  if (leaked.length > 0) problems.push(`leaked the router page's ${leaked.join(', ')}`)
  let title: unknown
  try {
    title = (JSON.parse(sent) as { title?: unknown }).title
  } catch {
    title = undefined
  }
  if (title !== LAB_ROUTER_TITLE)
    problems.push(`fingerprinted the router's title as ${JSON.stringify(title)}`)
  return problems
}

/** The port mappings of our client's report against what the lab's miniupnpd held. */
function mappingProblems(round: MeasuredRound, gateway: ClientFacts['gateway']): string[] {
  const text = (m: MeasuredRound['natMappings'][number]) =>
    `${m.protocol} ${m.internalPort} ${m.externalPort}`
  if (gateway === undefined)
    return round.natMappings.length === 0
      ? []
      : [`reported port mappings (${round.natMappings.map(text).join(', ')}) without a gateway to make them`]
  if (round.natMappings.length === 0) return ['reported no port mapping, though its router runs miniupnpd']
  return round.natMappings.flatMap((m) => [
    ...(gateway.seen.has(text(m))
      ? []
      : [`reported the port mapping ${text(m)}, which miniupnpd never held`]),
    ...(m.addr === gateway.addr
      ? []
      : [`reported the mapped address ${m.addr}, the router's is ${gateway.addr}`]),
  ])
}

function behaviourProblems(round: MeasuredRound, behaviour: RemoteBehaviour): string[] {
  const truth = BEHAVIOUR_TRUTH[behaviour]
  const problems: string[] = []
  // Outcomes without attempts (the remote was down, the round was cancelled) show nothing more.
  if (round.outcome === 'NO_CONNECTION' || round.outcome === 'CANCELLED') return problems
  const count = round.attempts.length
  if (truth.attempts !== undefined && (count < truth.attempts.min || count > truth.attempts.max)) {
    const { min, max } = truth.attempts
    problems.push(
      `${count} attempt(s) with a ${behaviour} remote, expected ${min === max ? min : `${min}–${max}`}`,
    )
  }
  const allowed = truth.attemptOutcomes
  const odd = allowed === undefined ? [] : round.attempts.filter((a) => !allowed.includes(a.outcome))
  if (odd.length > 0)
    problems.push(
      `attempt(s) ${odd.map((a) => `${a.number} ${a.outcome}`).join(', ')} with a ${behaviour} remote, expected ${allowed!.join(' or ')}`,
    )
  const first = round.attempts[0]
  if (truth.firstAttempt !== undefined && first !== undefined) {
    const rtt = first.startRttSeconds
    if (rtt === null || rtt < truth.firstAttempt.minStartRttSeconds)
      problems.push(
        `first attempt's start RTT ${rtt ?? 'missing'} s, expected ≥ ${truth.firstAttempt.minStartRttSeconds} s: ${truth.firstAttempt.why}`,
      )
  }
  return problems
}

/** The IP of a stored multiaddr (`/ip4/<ip>/…`, `/ip6/<ip>/…`); undefined for anything else. */
function ipOf(addr: string): string | undefined {
  const match = /^\/ip[46]\/([^/]+)\//.exec(addr)
  return match?.[1]
}
