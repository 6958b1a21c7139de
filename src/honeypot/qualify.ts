// Which identified peers the honeypot records (docs/PROTOCOL.md, "Honeypot"): the ones that
// speak DCUtR and that nobody can dial directly, i.e. that advertise no public address except
// through relays. Relay addresses and private or loopback addresses do not disqualify a peer.
//
// One exception to "speak DCUtR": stock rust-libp2p lists /libp2p/dcutr in identify only on
// relayed connections it dialled, never on the direct one to the honeypot (docs/INTEROP.md, R1),
// yet punches as the DCUtR initiator. A relay-only peer whose agent names rust-libp2p and that
// runs the relay client (it lists the circuit relay's stop protocol) is recorded too, marked as
// inferred, and its rounds tell whether it punches (NO_STREAM when it never opens /libp2p/dcutr).
import { DCUTR_PROTOCOL } from '../db/connection-events.js'
import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'

/** What became of one identified inbound connection; `inferred` is recorded too. */
export type Verdict = 'recorded' | 'inferred' | 'not_dcutr' | 'public'

/** The protocol a circuit relay v2 client handles: relayed connections arrive on it. */
export const RELAY_STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'
/** Agents known to punch without listing /libp2p/dcutr on a direct connection. */
const PUNCHES_UNANNOUNCED = /\brust-libp2p\b/i

export function verdict(
  protocols: readonly string[],
  listenAddrs: readonly ClassifiedMultiaddr[],
  agentVersion: string | null = null,
): Verdict {
  if (listenAddrs.some((a) => a.isPublic && !a.isRelay))
    return protocols.includes(DCUTR_PROTOCOL) ? 'public' : 'not_dcutr'
  if (protocols.includes(DCUTR_PROTOCOL)) return 'recorded'
  const punchesUnannounced =
    agentVersion !== null &&
    PUNCHES_UNANNOUNCED.test(agentVersion) &&
    protocols.includes(RELAY_STOP_PROTOCOL) &&
    listenAddrs.some((a) => a.isRelay)
  return punchesUnannounced ? 'inferred' : 'not_dcutr'
}

/** Whether a verdict makes the peer a remote candidate. */
export function isRecorded(v: Verdict): boolean {
  return v === 'recorded' || v === 'inferred'
}
