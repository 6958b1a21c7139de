// The measuring side A of one hole-punch round, for the lab: a stand-in until `punchr client`
// exists, built like the tracer-loopback test's A (test/integration/tracer-loopback.test.ts):
// every TCP dial leaves from the fixed port --dial-port (P_A), the relay's identify tells us
// our mapping (router WAN address : P_A on a cone NAT), and our traced DCUtR responder answers
// B's CONNECT with it and punches from P_A as the handshake responder. Prints ONE JSON line:
// the attempts and the overall outcome from the tracer's pure `outcome()`.
//
//   node probe.js --relay /ip4/11.0.0.2/tcp/4001/p2p/12D3… --remote 12D3… --dial-port 4200
//
// One process is one round. Use a new --dial-port per round against the same remote: the
// punched 4-tuple of the last round lingers in TIME_WAIT (EADDRNOTAVAIL; docs/PROTOCOL.md, "js-libp2p behaviours the code works around").
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { roleFor } from '../../client/host.js'
import {
  type AttemptOutcome,
  type DcutrTracer,
  dcutrTracer,
  fixedPortDialOpts,
  outcome,
  type TraceEvent,
  type WaitForEndResult,
} from '../../client/tracer/index.js'
import { isRelayAddr } from '../../lib/multiaddr.js'
import { loadOrCreateKey } from './identity.js'
import { pinoComponentLogger } from './libp2p-logger.js'
import { intOption, parseOptions, printLine, required, runProgram, UsageError } from './program.js'
import { until } from './util.js'

const USAGE =
  'probe --relay <relay multiaddr with /p2p/> --remote <peer id> --dial-port <port> [--listen-ip 0.0.0.0] ' +
  '[--key <file>] [--max-attempts 3] [--stream-open-timeout-ms 30000] [--late-window-ms 5000] ' +
  '[--identify-timeout-ms 5000]'

runProgram('lab-probe', async ({ log, signal, onCleanup }) => {
  const opts = parseOptions(USAGE, {
    relay: { type: 'string' },
    remote: { type: 'string' },
    'dial-port': { type: 'string' },
    'listen-ip': { type: 'string' },
    key: { type: 'string' },
    'max-attempts': { type: 'string' },
    'stream-open-timeout-ms': { type: 'string' },
    'late-window-ms': { type: 'string' },
    'identify-timeout-ms': { type: 'string' },
  })
  const relay = multiaddr(required(opts.relay, 'relay', USAGE))
  if (relay.getComponents().at(-1)?.name !== 'p2p') {
    throw new UsageError(`--relay must end in /p2p/<relay peer id>\nusage: ${USAGE}`)
  }
  const remote = peerIdFromString(required(opts.remote, 'remote', USAGE))
  const dialPort = intOption(opts['dial-port'], 'dial-port', 0, 1, 65535)
  const maxAttempts = intOption(opts['max-attempts'], 'max-attempts', 3, 1, 100)
  const streamOpenTimeout = intOption(
    opts['stream-open-timeout-ms'],
    'stream-open-timeout-ms',
    30_000,
    1,
    600_000,
  )
  const identifyTimeout = intOption(opts['identify-timeout-ms'], 'identify-timeout-ms', 5_000, 1, 600_000)
  const lateConnectionWindow = intOption(opts['late-window-ms'], 'late-window-ms', 5_000, 0, 600_000)
  const relayedAddr = relay.encapsulate(`/p2p-circuit/p2p/${remote.toString()}`)

  // Agent versions from identify: the handshake role of a punch depends on the remote's stack,
  // exactly as in the client (roleFor, src/client/host.ts).
  const agents = new Map<string, string>()
  const node = await createLibp2p({
    privateKey: await loadOrCreateKey(opts.key),
    // Private addresses only: a public one in identify makes B try a plain direct dial first,
    // whose dropped SYN leaves a NAT entry that spoils the punch (docs/PROTOCOL.md, "js-libp2p behaviours the code works around").
    addresses: { listen: [`/ip4/${opts['listen-ip'] ?? '0.0.0.0'}/tcp/0`] },
    transports: [tcp({ dialOpts: fixedPortDialOpts(dialPort) }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      tracer: dcutrTracer({
        lateConnectionWindow,
        role: (peer, attempt) => roleFor(agents.get(peer.toString()), attempt),
      }),
    },
    logger: pinoComponentLogger(log, ['punchr:tracer']),
  })
  onCleanup(() => node.stop())
  node.addEventListener('peer:identify', (e) => {
    if (e.detail.agentVersion !== undefined) agents.set(e.detail.peerId.toString(), e.detail.agentVersion)
  })
  const tracer = node.services.tracer as DcutrTracer
  tracer.addEventListener('trace', (e) => log.info(plain(e.detail), e.detail.type))

  const started = performance.now()
  const since = () => Math.round(performance.now() - started)
  const timings: Record<string, number> = {}
  let relayedConnectFailed = false
  let relayError: string | undefined
  let end: WaitForEndResult | undefined
  try {
    // The relay first, on its own: its identify gives the observed address our CONNECT carries.
    await node.dial(relay, { signal })
    timings.relayConnectedMs = since()
    await until('identify from the relay', () => tracer.observedAddrs().length > 0, identifyTimeout, signal)
    timings.identifiedMs = since()
    tracer.watch(remote)
    await node.dial(relayedAddr, { signal })
    timings.relayedConnectedMs = since()
  } catch (err) {
    relayedConnectFailed = true
    relayError = err instanceof Error ? err.message : String(err)
    log.warn({ err }, 'no relayed connection')
  }
  if (!relayedConnectFailed) {
    end = await tracer.waitForEnd(remote, { signal, streamOpenTimeout, maxAttempts })
    timings.endMs = since()
    // The success event can precede its attempt's end by a moment; the report wants both.
    await until('the attempts’ ends', () => allEnded(tracer.trace(remote)), 6_000).catch(() => undefined)
  }

  const events = tracer.trace(remote)
  const directConnections = node
    .getConnections(remote)
    .filter((c) => !isRelayAddr(c.remoteAddr))
    .map((c) => ({
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction,
      limited: c.limits !== undefined,
    }))
  // The punched connection must carry streams, not just exist: ping over it (a limited relayed
  // connection does not take a ping, so this cannot go through the relay).
  let directPing: { rttMs?: number; error?: string } | undefined
  if (directConnections.length > 0) {
    directPing = await node.services.ping.ping(remote, { signal: AbortSignal.timeout(3_000) }).then(
      (rttMs) => ({ rttMs }),
      (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
    )
  }
  const result = outcome(events, {
    relayedConnectFailed,
    cancelled: signal.aborted,
    directConnAtEnd: directConnections.length > 0,
    allServedAddrsRelay: true,
  })
  const first = events[0]?.timestamp
  printLine({
    outcome: result.outcome,
    end,
    // Not `error`: that key is the program's own failure (program.ts).
    relayError,
    peerId: node.peerId.toString(),
    remote: remote.toString(),
    relayedAddr: relayedAddr.toString(),
    dialPort,
    observedAddrs: tracer.observedAddrs().map(String),
    attempts: result.attempts.map(attemptJson),
    directConnections,
    directPing,
    timings: { ...timings, totalMs: since() },
    events: events.map((e) => ({ ...plain(e), atMs: first === undefined ? 0 : nsToMs(e.timestamp - first) })),
  })
})

/** Every attempt that began has its attempt-ended event. */
function allEnded(events: readonly TraceEvent[]): boolean {
  const begun = new Set(events.flatMap((e) => (e.attempt === undefined ? [] : [e.attempt])))
  const ended = new Set(events.flatMap((e) => (e.type === 'attempt-ended' ? [e.attempt] : [])))
  return [...begun].every((a) => ended.has(a))
}

function attemptJson(a: AttemptOutcome) {
  return {
    attempt: a.attempt,
    outcome: a.outcome,
    error: a.error,
    directDialError: a.directDialError,
    startRtt: a.startRtt,
    elapsedTime: a.elapsedTime,
    multiAddresses: a.multiAddresses.map(String),
    openedAt: a.openedAt,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
  }
}

const nsToMs = (ns: bigint) => Number(ns / 1000n) / 1000

/** A trace event as JSON-friendly data: multiaddrs and peer ids as strings, no timestamp. */
function plain(event: TraceEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(event)) {
    if (key === 'timestamp' || key === 'peer') continue
    out[key] = Array.isArray(value) ? value.map(text) : text(value)
  }
  return out
}

function text(value: unknown): unknown {
  const isAddr = (v: unknown): v is Multiaddr =>
    v !== null && typeof v === 'object' && 'bytes' in v && typeof (v as Multiaddr).toString === 'function'
  return isAddr(value) ? value.toString() : value
}
