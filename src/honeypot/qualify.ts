// Which identified peers the honeypot records (docs/PROTOCOL.md, "Honeypot"): the ones that
// speak DCUtR and that nobody can dial directly, i.e. that advertise no public address except
// through relays. Relay addresses and private or loopback addresses do not disqualify a peer.
import { DCUTR_PROTOCOL } from '../db/connection-events.js'
import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'

/** What became of one identified inbound connection. */
export type Verdict = 'recorded' | 'not_dcutr' | 'public'

export function verdict(protocols: readonly string[], listenAddrs: readonly ClassifiedMultiaddr[]): Verdict {
  if (!protocols.includes(DCUTR_PROTOCOL)) return 'not_dcutr'
  if (listenAddrs.some((a) => a.isPublic && !a.isRelay)) return 'public'
  return 'recorded'
}
