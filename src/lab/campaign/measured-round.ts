import type { RoundIpVersion } from '../expectations.js'
import type { Transport } from '../nat-profiles.js'

/** One stored report of a campaign, as the verdict and results.jsonl see it. */
export interface MeasuredRound {
  /** hole_punch_results.id */
  id: number
  /** The client host's lab name (the API key's user name). */
  client: string
  clientPeer: string
  /** The remote's lab name; undefined when its peer ID belongs to no lab remote. */
  remote: string | undefined
  remotePeer: string
  transport: Transport
  outcome: string
  error: string | null
  finalTransport: string | null
  /** The IP version the round measured (stored-rounds.ts ipVersionOf). */
  ipVersion: RoundIpVersion
  /** The punchr client that reported it (hole_punch_results.client_implementation). */
  clientImplementation: string
  /** Known quirks of that client the server normalised in the report (src/server/quirks.ts). */
  quirks: string[]
  /** The client host's NAT mapping on the round's path as stored; null = not reported (other clients). */
  clientNatMapping: string | null
  /** What the report says of the home router (network_information): our client's fingerprint, or why none. */
  routerLoginHtml: string | null
  routerLoginHtmlError: string | null
  /** The gateway port mappings the report carried (nat_mappings). */
  natMappings: { protocol: string; internalPort: number; externalPort: number; addr: string }[]
  /** The transport of the round's protocol filter; undefined when it left the transport open. */
  filterTransport: Transport | undefined
  /** The IP version of the round's protocol filter; undefined when it left the version open. */
  filterIpVersion: 4 | 6 | undefined
  /** Unix microseconds. */
  connectStartedUs: number
  connectEndedUs: number
  endedUs: number
  attempts: MeasuredAttempt[]
  /** Every address the round's attempts dialled (punched), as stored. */
  punchedAddrs: string[]
}

export interface MeasuredAttempt {
  number: number
  outcome: string
  error: string | null
  /** Unix microseconds; startedUs is null when the attempt never got to SYNC. */
  openedUs: number
  startedUs: number | null
  endedUs: number
  startRttSeconds: number | null
  elapsedSeconds: number
}
