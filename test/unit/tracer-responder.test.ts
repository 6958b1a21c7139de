// The responder's behaviour against narrow stubs of the libp2p components it uses: the test
// plays the remote B on a fake stream and decides what each dial does (refuse, hang while
// ignoring its signal, connect). Covers what stock js-libp2p never sends: several rounds on
// one stream, messages out of turn, garbage, silence.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Connection, MultiaddrConnection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  attemptOutcomes,
  type DcutrTracer,
  type DcutrTracerComponents,
  type DcutrTracerInit,
  dcutrTracer,
  type HolePunch,
  HolePunchType,
  PROTOCOL,
  type TraceEvent,
} from '../../src/client/tracer/index.js'
import { decodeFrame, encodeFrame } from '../../src/client/tracer/pb.js'
import { until } from '../support/until.js'

const REMOTE = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
const RELAY = '12D3KooWKnSq4bBVkCEq7x6jMUJ7PXzd7BgyaxSC7T86WvVNqAHy'
const REMOTE_ADDR = multiaddr('/ip4/11.0.0.2/tcp/4001')
const OUR_ADDR = multiaddr('/ip4/11.0.0.1/tcp/4002')
const RELAYED = multiaddr(`/ip4/11.0.0.9/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE.toString()}`)

/** The tracer's side of a dcutr stream; the test writes as B and reads what the tracer sent. */
class FakeStream extends EventTarget {
  readonly id = `stream-${Math.random().toString(36).slice(2, 8)}`
  status = 'open'
  remoteWriteStatus = 'writable'
  readBufferLength = 0
  readonly sent: HolePunch[] = []
  abortedWith: Error | undefined

  send(data: Uint8Array): boolean {
    const frame = decodeFrame(data)
    if (frame !== undefined) this.sent.push(frame.message)
    return true
  }
  async onDrain(): Promise<void> {}
  async close(): Promise<void> {
    this.status = 'closed'
  }
  abort(err: Error): void {
    this.status = 'aborted'
    this.abortedWith = err
  }

  deliver(message: HolePunch): void {
    this.deliverBytes(encodeFrame(message))
  }
  deliverBytes(data: Uint8Array): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data }))
  }
  endRemote(): void {
    this.remoteWriteStatus = 'closed'
    this.dispatchEvent(new Event('remoteCloseWrite'))
  }
}

const connect = (addrs: Multiaddr[] = [REMOTE_ADDR]): HolePunch => ({
  type: HolePunchType.CONNECT,
  obsAddrs: addrs.map((a) => a.bytes),
})
const SYNC: HolePunch = { type: HolePunchType.SYNC, obsAddrs: [] }

/** 'late': ignores its signal and connects after all, once the dial was given up. */
type DialBehaviour = 'refuse' | 'hang' | 'connect' | 'late'

/** Stub components; `dial` decides what the next hole-punch dials do. */
function harness(init: DcutrTracerInit = {}) {
  const events = new EventTarget()
  let handler: ((stream: Stream, connection: Connection) => void) | undefined
  const calls = {
    handle: 0,
    unhandle: 0,
    dials: 0,
    closed: 0,
    upgrades: [] as Array<{ initiator?: boolean; direction: string }>,
  }
  const h = {
    dial: 'refuse' as DialBehaviour,
    calls,
    events,
    tracer: undefined as unknown as DcutrTracer,
    /** B opens a stream on the relayed connection (or on `over`). */
    open(over: Multiaddr = RELAYED): FakeStream {
      const stream = new FakeStream()
      const relayedConnection = { id: 'relayed', remotePeer: REMOTE, remoteAddr: over, direction: 'outbound' }
      handler!(stream as unknown as Stream, relayedConnection as unknown as Connection)
      return stream
    },
    /** A direct connection from B arrives at our listener. */
    inbound(): void {
      const connection = directConnection('inbound', { open: Date.now() })
      events.dispatchEvent(new CustomEvent('connection:open', { detail: connection }))
    },
  }
  const directConnection = (direction: string, timeline: object) => ({
    id: `direct-${calls.dials}`,
    remotePeer: REMOTE,
    remoteAddr: REMOTE_ADDR.encapsulate(`/p2p/${REMOTE.toString()}`),
    direction,
    timeline,
    abort() {},
    close: async () => {
      calls.closed++
    },
  })
  const transport = {
    async dial(
      ma: Multiaddr,
      options: {
        signal: AbortSignal
        upgrader: { upgradeOutbound: (m: unknown, o: unknown) => Promise<Connection> }
      },
    ) {
      calls.dials++
      if (h.dial === 'refuse') throw new Error(`connect ECONNREFUSED ${ma.toString()}`)
      if (h.dial === 'hang') return await new Promise<never>(() => {}) // ignores its signal
      if (h.dial === 'late') {
        await new Promise((resolve) => options.signal.addEventListener('abort', resolve, { once: true }))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const maConn = { direction: 'outbound', timeline: { open: Date.now() }, remoteAddr: ma }
      return await options.upgrader.upgradeOutbound(maConn, { ...options })
    },
  }
  const upgrader = {
    async upgradeOutbound(maConn: MultiaddrConnection, opts: { initiator?: boolean }) {
      calls.upgrades.push({ initiator: opts.initiator, direction: maConn.direction })
      const connection = directConnection(maConn.direction, maConn.timeline)
      events.dispatchEvent(new CustomEvent('connection:open', { detail: connection }))
      return connection
    },
  }
  const silent = Object.assign(() => {}, { error() {}, trace() {}, enabled: false })
  const components = {
    registrar: {
      async handle(protocol: string, fn: typeof handler) {
        assert.equal(protocol, PROTOCOL)
        calls.handle++
        handler = fn
      },
      async unhandle() {
        calls.unhandle++
      },
    },
    transportManager: {
      dialTransportForMultiaddr: (ma: Multiaddr) => (ma.toString().includes('/tcp/') ? transport : undefined),
    },
    upgrader,
    addressManager: { getObservedAddrs: () => [], getAddresses: () => [OUR_ADDR] },
    events,
    logger: { forComponent: () => silent },
  } as unknown as DcutrTracerComponents
  h.tracer = dcutrTracer({ attemptTimeout: 2_000, dialTimeout: 1_000, lateConnectionWindow: 100, ...init })(
    components,
  )
  return h
}

const types = (events: TraceEvent[]) => events.map((e) => `${e.attempt ?? '-'}:${e.type}`)
const ended = (tracer: DcutrTracer, peer: PeerId, n: number) => () =>
  tracer.trace(peer).filter((e) => e.type === 'attempt-ended').length >= n

describe('DcutrTracer (stubbed libp2p)', () => {
  it('one stream per attempt: answers CONNECT, dials on SYNC, FAILED when every dial fails', async () => {
    const h = harness({ observedAddrs: () => [OUR_ADDR] })
    const dispatched: string[] = []
    const reasons: string[] = []
    h.tracer.addEventListener('trace', (evt) => dispatched.push(evt.detail.type))
    h.tracer.addEventListener('attempt-ended', (evt) => reasons.push(evt.detail.reason))
    await h.tracer.start()
    const stream = h.open()
    stream.deliver(connect())
    await until('our CONNECT', () => stream.sent.length === 1, 3_000)
    assert.equal(stream.sent[0]!.type, HolePunchType.CONNECT)
    assert.deepEqual(stream.sent[0]!.obsAddrs, [OUR_ADDR.bytes])
    stream.deliver(SYNC)
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
    assert.deepEqual(types(h.tracer.trace(REMOTE)), [
      '1:stream-opened',
      '1:connect-received',
      '1:connect-sent',
      '1:sync-received',
      '1:dial-started',
      '1:dial-failed',
      '1:attempt-ended',
    ])
    assert.deepEqual(
      attemptOutcomes(h.tracer.trace(REMOTE)).map((a) => a.outcome),
      ['FAILED'],
    )
    assert.deepEqual(
      dispatched,
      h.tracer.trace(REMOTE).map((e) => e.type),
    )
    assert.deepEqual(reasons, ['dials-failed'])
    await h.tracer.stop()
  })

  it('several rounds on one stream; dials in the responder role', async () => {
    const h = harness()
    await h.tracer.start()
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('round 1 to end', ended(h.tracer, REMOTE, 1), 3_000)
    h.dial = 'connect'
    stream.deliver(connect())
    await until('our second CONNECT', () => stream.sent.length === 2, 3_000)
    stream.deliver(SYNC)
    await until('round 2 to end', ended(h.tracer, REMOTE, 2), 3_000)
    const events = h.tracer.trace(REMOTE)
    assert.deepEqual(types(events).slice(7), [
      '2:connect-received',
      '2:connect-sent',
      '2:sync-received',
      '2:dial-started',
      '2:direct-connection',
      '2:dial-succeeded',
      '2:attempt-ended',
    ])
    assert.deepEqual(
      attemptOutcomes(events).map((a) => a.outcome),
      ['FAILED', 'SUCCESS'],
    )
    assert.deepEqual(h.calls.upgrades, [{ initiator: false, direction: 'inbound' }])
    const direct = events.find((e) => e.type === 'direct-connection')
    assert.ok(direct?.type === 'direct-connection' && direct.ownDial && direct.direction === 'outbound')
    await h.tracer.stop()
  })

  it('a newer round while we still dial supersedes the attempt and frees the dial', async () => {
    const h = harness({ dialTimeout: 10_000 })
    await h.tracer.start()
    h.dial = 'hang'
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the dial', () => h.calls.dials === 1, 3_000)
    h.dial = 'refuse'
    stream.deliver(connect())
    await until('round 1 to end', ended(h.tracer, REMOTE, 1), 3_000)
    const end1 = h.tracer.trace(REMOTE).find((e) => e.type === 'attempt-ended')
    assert.ok(end1?.type === 'attempt-ended' && end1.reason === 'superseded')
    await until('our second CONNECT', () => stream.sent.length === 2, 3_000)
    await h.tracer.stop()
  })

  const broken: Array<[string, (s: FakeStream) => void, RegExp]> = [
    ['SYNC where CONNECT is due', (s) => s.deliver(SYNC), /expected CONNECT, got SYNC/],
    ['garbage', (s) => s.deliverBytes(Uint8Array.of(0x03, 0xff, 0xff, 0xff)), /malformed HolePunch/],
    ['an oversized message', (s) => s.deliverBytes(Uint8Array.of(0xff, 0xff, 0x03)), /exceeds 4096/],
    ['the stream ending before CONNECT', (s) => s.endRemote(), /closed the stream before CONNECT/],
    [
      'CONNECT without a dialable address',
      (s) => s.deliver({ type: HolePunchType.CONNECT, obsAddrs: [RELAYED.bytes, Uint8Array.of(0xff)] }),
      /no dialable address \(1 decoded, 1 invalid\)/,
    ],
  ]
  for (const [name, act, error] of broken) {
    it(`PROTOCOL_ERROR on ${name}, and the stream is reset`, async () => {
      const h = harness()
      await h.tracer.start()
      const stream = h.open()
      act(stream)
      await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
      const [attempt] = attemptOutcomes(h.tracer.trace(REMOTE))
      assert.equal(attempt?.outcome, 'PROTOCOL_ERROR')
      assert.match(attempt?.error ?? '', error)
      assert.equal(stream.status, 'aborted')
      assert.equal(h.calls.dials, 0)
      await h.tracer.stop()
    })
  }

  it('PROTOCOL_ERROR for a dcutr stream over a direct connection', async () => {
    const h = harness()
    await h.tracer.start()
    h.open(REMOTE_ADDR)
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
    assert.equal(attemptOutcomes(h.tracer.trace(REMOTE))[0]?.outcome, 'PROTOCOL_ERROR')
    await h.tracer.stop()
  })

  it('TIMEOUT when the remote goes silent, at the attempt deadline', async () => {
    const h = harness({ attemptTimeout: 150 })
    await h.tracer.start()
    const started = Date.now()
    const stream = h.open()
    stream.deliver(connect())
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
    assert.ok(Date.now() - started < 1_000)
    const [attempt] = attemptOutcomes(h.tracer.trace(REMOTE))
    assert.equal(attempt?.outcome, 'TIMEOUT')
    assert.ok(attempt!.elapsedTime >= 0.14 && attempt!.elapsedTime < 1)
    await h.tracer.stop()
  })

  it('a dial that ignores its signal ends at the dial timeout: FAILED, not stuck', async () => {
    const h = harness({ dialTimeout: 100 })
    await h.tracer.start()
    h.dial = 'hang'
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 1_000)
    const [attempt] = attemptOutcomes(h.tracer.trace(REMOTE))
    assert.equal(attempt?.outcome, 'FAILED')
    assert.match(attempt?.error ?? '', /dial did not finish within 100 ms/)
    await h.tracer.stop()
  })

  it('a full trace still keeps what decides the outcome, and counts what it left out', async () => {
    const h = harness({ maxEventsPerTrace: 4 })
    await h.tracer.start()
    h.dial = 'connect'
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
    const events = h.tracer.trace(REMOTE)
    assert.ok(events.some((e) => e.type === 'direct-connection'))
    assert.equal(attemptOutcomes(events)[0]?.outcome, 'SUCCESS')
    assert.equal(h.tracer.dropped(REMOTE), 1, 'the dial-started event')
    await h.tracer.stop()
  })

  it('our dial that connects after the attempt gave it up is no SUCCESS: FAILED, and the connection closed', async () => {
    const h = harness({ dialTimeout: 100 })
    await h.tracer.start()
    h.dial = 'late'
    h.tracer.watch(REMOTE)
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the abandoned connection', () =>
      h.tracer.trace(REMOTE).some((e) => e.type === 'abandoned-connection'),
    )
    const events = h.tracer.trace(REMOTE)
    assert.deepEqual(types(events).slice(-3), ['1:dial-failed', '1:attempt-ended', '1:abandoned-connection'])
    assert.ok(!events.some((e) => e.type === 'direct-connection'))
    assert.equal(attemptOutcomes(events)[0]?.outcome, 'FAILED')
    assert.equal(h.calls.closed, 1)
    await h.tracer.stop()
  })

  it('the remote connecting to us while we dial is SUCCESS; our dial is abandoned', async () => {
    const h = harness({ dialTimeout: 10_000 })
    await h.tracer.start()
    h.dial = 'hang'
    h.tracer.watch(REMOTE)
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the dial', () => h.calls.dials === 1, 3_000)
    h.inbound()
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 1_000)
    const events = h.tracer.trace(REMOTE)
    assert.deepEqual(types(events).slice(-3), ['1:direct-connection', '1:dial-failed', '1:attempt-ended'])
    const direct = events.find((e) => e.type === 'direct-connection')
    assert.ok(direct?.type === 'direct-connection' && !direct.ownDial && direct.direction === 'inbound')
    assert.equal(attemptOutcomes(events)[0]?.outcome, 'SUCCESS')
    assert.equal(await h.tracer.waitForEnd(REMOTE), 'direct-connection')
    await h.tracer.stop()
  })

  it('cancel() ends the running attempt CANCELLED; waitForEnd reports the cancellation', async () => {
    const h = harness({ dialTimeout: 10_000 })
    await h.tracer.start()
    h.dial = 'hang'
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the dial', () => h.calls.dials === 1, 3_000)
    const controller = new AbortController()
    const waiting = h.tracer.waitForEnd(REMOTE, { signal: controller.signal })
    controller.abort()
    assert.equal(await waiting, 'cancelled')
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 1_000)
    assert.equal(attemptOutcomes(h.tracer.trace(REMOTE))[0]?.outcome, 'CANCELLED')
    await h.tracer.stop()
  })

  it('waitForEnd: silence without streams, attempts exhausted after the last one', async () => {
    const h = harness()
    await h.tracer.start()
    assert.equal(await h.tracer.waitForEnd(REMOTE, { streamOpenTimeout: 50 }), 'silence')
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    assert.equal(await h.tracer.waitForEnd(REMOTE, { maxAttempts: 1 }), 'attempts-exhausted')
    assert.deepEqual(
      attemptOutcomes(h.tracer.trace(REMOTE)).map((a) => a.outcome),
      ['FAILED'],
    )
    await h.tracer.stop()
  })

  it('a remote that opens stream after stream gets the attempts a round takes; the rest are reset', async () => {
    const h = harness({ maxAttemptsPerRound: 3, attemptTimeout: 100 })
    await h.tracer.start()
    const streams = Array.from({ length: 5 }, () => {
      const stream = h.open()
      stream.deliver(connect())
      return stream
    })
    assert.deepEqual(
      streams.map(
        (s) => s.status === 'aborted' && /3 dcutr attempts this round/.test(s.abortedWith?.message ?? ''),
      ),
      [false, false, false, true, true],
    )
    assert.equal(h.tracer.refusedStreams(REMOTE), 2)
    assert.equal(await h.tracer.waitForEnd(REMOTE, { maxAttempts: 3 }), 'attempts-exhausted')
    assert.equal(attemptOutcomes(h.tracer.trace(REMOTE)).length, 3)
    await h.tracer.stop()
  })

  it('waitForEnd ends at the round’s deadline, whatever runs: the running attempt ends TIMEOUT', async () => {
    const h = harness({ attemptTimeout: 60_000 })
    await h.tracer.start()
    const stream = h.open()
    stream.deliver(connect()) // and never SYNC
    const started = Date.now()
    assert.equal(await h.tracer.waitForEnd(REMOTE, { deadline: 200 }), 'deadline')
    assert.ok(Date.now() - started < 2_000)
    await until('the attempt’s end', ended(h.tracer, REMOTE, 1), 3_000)
    const [attempt] = attemptOutcomes(h.tracer.trace(REMOTE))
    assert.equal(attempt?.outcome, 'TIMEOUT')
    assert.match(attempt?.error ?? '', /deadline of 0.2 s/)
    await h.tracer.stop()
  })

  it('directDial: DIRECT_DIAL as the initiator', async () => {
    const h = harness()
    await h.tracer.start()
    h.dial = 'connect'
    const connection = await h.tracer.directDial(REMOTE, [REMOTE_ADDR])
    assert.ok(connection !== undefined)
    assert.deepEqual(h.calls.upgrades, [{ initiator: undefined, direction: 'outbound' }])
    assert.equal(attemptOutcomes(h.tracer.trace(REMOTE))[0]?.outcome, 'DIRECT_DIAL')
    await h.tracer.stop()
  })

  it('CONNECT carries identify’s observations from direct connections, else the address manager’s', async () => {
    const h = harness()
    await h.tracer.start()
    assert.deepEqual(h.tracer.ownAddrs(), { addrs: [OUR_ADDR], source: 'address-manager' })
    const identify = (observedAddr: Multiaddr, remoteAddr: Multiaddr) =>
      h.events.dispatchEvent(
        new CustomEvent('peer:identify', { detail: { observedAddr, connection: { remoteAddr } } }),
      )
    identify(multiaddr('/ip4/11.0.0.1/tcp/1/p2p-circuit'), RELAYED)
    assert.equal(h.tracer.ownAddrs().source, 'address-manager', 'relayed observations tell nothing')
    identify(
      multiaddr(`/ip4/11.0.0.1/tcp/4100/p2p/${RELAY}`),
      multiaddr(`/ip4/11.0.0.9/tcp/4001/p2p/${RELAY}`),
    )
    assert.deepEqual(
      { addrs: h.tracer.ownAddrs().addrs.map(String), source: h.tracer.ownAddrs().source },
      { addrs: ['/ip4/11.0.0.1/tcp/4100'], source: 'identify' },
    )
    await h.tracer.stop()
  })

  it('start and stop are idempotent; stop cancels running attempts', async () => {
    const h = harness({ dialTimeout: 10_000 })
    await h.tracer.start()
    await h.tracer.start()
    assert.equal(h.calls.handle, 1)
    h.dial = 'hang'
    const stream = h.open()
    stream.deliver(connect())
    stream.deliver(SYNC)
    await until('the dial', () => h.calls.dials === 1, 3_000)
    await h.tracer.stop()
    await h.tracer.stop()
    assert.equal(h.calls.unhandle, 1)
    assert.equal(attemptOutcomes(h.tracer.trace(REMOTE))[0]?.outcome, 'CANCELLED')
    assert.equal(h.tracer.isStarted(), false)
  })
})
