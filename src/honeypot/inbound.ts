// Turns inbound connections into connection events (docs/PROTOCOL.md, "Honeypot"). It listens
// to the node's events, subscribed once at start: no per-connection waiter exists that a
// connection which never identifies could leave behind (the Go honeypot leaked one goroutine
// per such connection).
// Open inbound connections are tracked in one bounded map, only to count those that close
// before identify and to tell an identify-push update from the first identify.
import type { Connection, IdentifyResult, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ConnectionEvent } from '../db/connection-events.js'
import { type ClassifiedMultiaddr, classifyMultiaddr, isRelayAddr } from '../lib/multiaddr.js'
import { remoteProtocols, remoteText } from '../lib/text.js'
import { isRecorded, type Verdict, verdict } from './qualify.js'

/** What became of an inbound connection, or of an identify-push update on it. */
export type InboundResult = Verdict | 'closed_before_identify' | 'untracked'

export interface InboundRecorderInit {
  events: TypedEventTarget<Libp2pEvents>
  /** Our own peer ID, stored with every event. */
  honeypotId: string
  /**
   * Open inbound connections tracked at most; beyond it the oldest is forgotten (counted as
   * `untracked`; its identify still gets judged). Keep it above the connection limit.
   */
  maxTracked: number
  /** A qualifying peer: the event to store. */
  onEvent: (event: ConnectionEvent) => void
  /** Every inbound connection once (`connection`), and identify pushes that changed something (`update`). */
  onResult: (result: InboundResult, kind: 'connection' | 'update') => void
}

/** What identify last told us on one connection. */
interface Seen {
  agentVersion: string | null
  protocols: string[]
  listenAddrs: ClassifiedMultiaddr[]
  /** All of the above in one string, to spot a push that changed nothing. */
  key: string
}

// Longer addresses are dropped: they fit no B-tree index entry (~2.7 KB) and are no real
// address anyway; identify's 8 KB message limit bounds everything else.
const MAX_ADDR_LENGTH = 1024
const CODE_P2P = 421

export class InboundRecorder {
  /** Connection id → undefined until identified, then what identify said. */
  private readonly tracked = new Map<string, Seen | undefined>()
  private readonly init: InboundRecorderInit

  constructor(init: InboundRecorderInit) {
    this.init = init
  }

  /** Open inbound connections being tracked. */
  get size(): number {
    return this.tracked.size
  }

  start(): void {
    this.init.events.addEventListener('connection:open', this.onOpen)
    this.init.events.addEventListener('peer:identify', this.onIdentify)
    this.init.events.addEventListener('connection:close', this.onClose)
  }

  stop(): void {
    this.init.events.removeEventListener('connection:open', this.onOpen)
    this.init.events.removeEventListener('peer:identify', this.onIdentify)
    this.init.events.removeEventListener('connection:close', this.onClose)
    this.tracked.clear()
  }

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    if (evt.detail.direction !== 'inbound') return
    this.track(evt.detail.id, undefined)
  }

  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    const id = evt.detail.id
    if (!this.tracked.has(id)) return
    if (this.tracked.get(id) === undefined) this.init.onResult('closed_before_identify', 'connection')
    this.tracked.delete(id)
  }

  // Also the path of identify-push messages, which js-libp2p reports as `peer:identify` too.
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const result = evt.detail
    const connection = result.connection
    if (connection.direction !== 'inbound') return
    const before = this.tracked.get(connection.id)
    const seen = merge(before, result, connection.remotePeer.toString())
    if (before !== undefined && before.key === seen.key) return
    const judged = verdict(seen.protocols, seen.listenAddrs, seen.agentVersion)
    this.init.onResult(judged, before === undefined ? 'connection' : 'update')
    // A connection that closed meanwhile is not tracked again (its close event has passed).
    if (connection.status === 'open') this.track(connection.id, seen)
    if (!isRecorded(judged)) return
    this.init.onEvent({
      dcutrInferred: judged === 'inferred',
      remoteId: connection.remotePeer.toString(),
      agentVersion: seen.agentVersion,
      protocols: seen.protocols,
      listenAddrs: seen.listenAddrs,
      connectionAddr: classifyAddr(withoutPeerId(connection.remoteAddr))[0] ?? null,
      honeypotId: this.init.honeypotId,
      openedAt: new Date(connection.timeline.open),
    })
  }

  private track(id: string, seen: Seen | undefined): void {
    if (!this.tracked.has(id) && this.tracked.size >= this.init.maxTracked) {
      const oldest = this.tracked.keys().next().value!
      if (this.tracked.get(oldest) === undefined) this.init.onResult('untracked', 'connection')
      this.tracked.delete(oldest)
    }
    this.tracked.set(id, seen)
  }
}

/**
 * What the peer has told us so far. A push may carry only what changed (go-libp2p sends
 * whole messages, the spec allows parts), so absent fields keep their earlier values.
 */
function merge(before: Seen | undefined, result: IdentifyResult, peer: string): Seen {
  // Relay addresses are stored as dial addresses of the peer (…/p2p-circuit/p2p/<peer>), the
  // form GetAddrInfo hands out; identify sends them without the peer's own ID (and a peer ID
  // there other than its own would only send clients elsewhere).
  const advertised = [...result.listenAddrs, ...(result.signedPeerRecord?.addresses ?? [])].map((a) =>
    isRelayAddr(a) ? withoutPeerId(a).encapsulate(`/p2p/${peer}`) : a,
  )
  const listenAddrs =
    advertised.length > 0
      ? [...new Map(advertised.flatMap(classifyAddr).map((a) => [a.maddr, a])).values()]
      : (before?.listenAddrs ?? [])
  const protocols =
    result.protocols.length > 0
      ? [...new Set(remoteProtocols(result.protocols))].sort()
      : (before?.protocols ?? [])
  const agentVersion =
    result.agentVersion === undefined ? (before?.agentVersion ?? null) : remoteText(result.agentVersion)
  const key = JSON.stringify([agentVersion, protocols, listenAddrs.map((a) => a.maddr)])
  return { agentVersion, protocols, listenAddrs, key }
}

/** The address classified, or nothing for one the database should not hold. */
function classifyAddr(addr: Multiaddr): ClassifiedMultiaddr[] {
  const classified = classifyMultiaddr(addr)
  return classified.maddr.length > MAX_ADDR_LENGTH || classified.maddr.includes('\0') ? [] : [classified]
}

function withoutPeerId(addr: Multiaddr): Multiaddr {
  return addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
}
