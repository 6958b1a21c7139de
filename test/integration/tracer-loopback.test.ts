// Real js-libp2p hosts on 127.0.0.1: a circuit relay, a remote B with the stock @libp2p/dcutr
// (the DCUtR initiator) and a reservation on the relay, and the measuring host A with our
// tracer and a fixed TCP dial port. A dials B through the relay; B opens /libp2p/dcutr.
//
// Loopback needs two stand-ins for what NATs do:
// - Stock dcutr drops every address of ours that is not public (utils.js isPublicAndDialable);
//   127.0.0.1 is private, a DNS name is taken as public. So A announces `/dns4/localhost/…`
//   (the tracer's `observedAddrs` option) and B announces its loopback address as usual.
// - A TCP simultaneous open needs the two SYNs to cross, which NATs make easy (they drop the
//   early SYN) and loopback makes impossible (it refuses it). The "splicer" stands in: it
//   listens on X (B's announced address, which A dials) and Y (A's announced address, which B
//   dials) and joins the two sockets. Each side then holds a connection it dialled, just as
//   after a simultaneous open, and A must be the responder for the handshakes to meet.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  attemptOutcomes,
  type DcutrTracer,
  type DcutrTracerInit,
  dcutrTracer,
  fixedPortDialOpts,
  outcome,
  type TraceEvent,
} from '../../src/client/tracer/index.js'
import { LAB_CONNECTION_LIMITS } from '../../src/lab/peers/util.js'
import { isRelayAddr } from '../../src/lib/multiaddr.js'
import { assertRefusedAttempts } from '../support/refused-attempts.js'
import { until } from '../support/until.js'

const LOCALHOST = '127.0.0.1'

/** A port nobody listens on (right now). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Joins the first socket accepted on `x` with the first accepted on `y`. */
async function splicer(): Promise<{ x: number; y: number; xRemotePorts: number[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = []
  const waiting: { x?: net.Socket; y?: net.Socket } = {}
  const xRemotePorts: number[] = []
  const join = () => {
    if (waiting.x === undefined || waiting.y === undefined) return
    const { x, y } = waiting
    waiting.x = undefined
    waiting.y = undefined
    x.pipe(y).on('error', () => undefined)
    y.pipe(x).on('error', () => undefined)
  }
  const listen = (side: 'x' | 'y') => {
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.on('error', () => undefined)
      if (side === 'x') xRemotePorts.push(socket.remotePort ?? 0)
      waiting[side] = socket
      join()
    })
    return new Promise<net.Server>((resolve) => server.listen(0, LOCALHOST, () => resolve(server)))
  }
  const [xs, ys] = await Promise.all([listen('x'), listen('y')])
  return {
    x: (xs.address() as net.AddressInfo).port,
    y: (ys.address() as net.AddressInfo).port,
    xRemotePorts,
    async close() {
      for (const socket of sockets) socket.destroy()
      await Promise.all([xs, ys].map((s) => new Promise((resolve) => s.close(resolve))))
    },
  }
}

const base = () => ({ connectionEncrypters: [noise()], streamMuxers: [yamux()] })

async function startRelay(): Promise<
  Libp2p<{ identify: unknown; relay: { reservations: { has(p: PeerId): boolean } } }>
> {
  return await createLibp2p({
    ...base(),
    addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`] },
    transports: [tcp()],
    services: { identify: identify(), relay: circuitRelayServer() },
    // Every peer of this file connects from 127.0.0.1, faster than js-libp2p's default of 5
    // inbound connections per address and second allows: the sixth within a second was reset.
    connectionManager: LAB_CONNECTION_LIMITS,
  })
}

/** B: stock dcutr, a reservation on the relay, and `announce` as its only own address. */
async function startRemote(relayAddr: Multiaddr, announce: string) {
  return await createLibp2p({
    ...base(),
    addresses: {
      listen: [`/ip4/${LOCALHOST}/tcp/0`, `${relayAddr.toString()}/p2p-circuit`],
      announce: [announce],
    },
    transports: [tcp(), circuitRelayTransport()],
    services: { identify: identify(), dcutr: dcutr() },
  })
}

/** A: our tracer, every TCP dial from `dialPort`. */
async function startClient(dialPort: number, init: DcutrTracerInit) {
  return await createLibp2p({
    ...base(),
    addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`] },
    transports: [tcp({ dialOpts: fixedPortDialOpts(dialPort) }), circuitRelayTransport()],
    services: { identify: identify(), tracer: dcutrTracer(init) },
  })
}

const types = (events: TraceEvent[], attempt: number) =>
  events.filter((e) => e.attempt === attempt).map((e) => e.type)

describe('traced DCUtR responder on loopback', { timeout: 60_000 }, () => {
  let relay: Awaited<ReturnType<typeof startRelay>>
  let relayAddr: Multiaddr

  before(async () => {
    relay = await startRelay()
    relayAddr = relay.getMultiaddrs()[0]!
  })
  after(async () => {
    await relay?.stop()
  })

  it('punches: B dials A, A dials B from its fixed port as the responder; one SUCCESS attempt', {
    timeout: 30_000,
  }, async () => {
    const splice = await splicer()
    const dialPort = await freePort()
    const b = await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${splice.x}`)
    const a = await startClient(dialPort, {
      observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${splice.y}`)],
    })
    const tracer = a.services.tracer as DcutrTracer
    try {
      await until('B’s reservation', () => relay.services.relay.reservations.has(b.peerId))
      tracer.watch(b.peerId)
      const relayed = await a.dial(
        multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`),
      )
      assert.ok(isRelayAddr(relayed.remoteAddr))

      const end = await tracer.waitForEnd(b.peerId, { streamOpenTimeout: 10_000 })
      assert.equal(end, 'direct-connection')
      await until('the attempt’s end', () => tracer.trace(b.peerId).some((e) => e.type === 'attempt-ended'))

      const events = tracer.trace(b.peerId)
      assert.deepEqual(types(events, 1), [
        'stream-opened',
        'connect-received',
        'connect-sent',
        'sync-received',
        'dial-started',
        'direct-connection',
        'dial-succeeded',
        'attempt-ended',
      ])
      const connect = events.find((e) => e.type === 'connect-received')
      assert.deepEqual(connect?.type === 'connect-received' && connect.dialAddrs.map(String), [
        `/ip4/${LOCALHOST}/tcp/${splice.x}/p2p/${b.peerId.toString()}`,
      ])
      const sent = events.find((e) => e.type === 'connect-sent')
      assert.equal(sent?.type === 'connect-sent' && sent.source, 'init')
      const direct = events.find((e) => e.type === 'direct-connection')
      assert.ok(direct?.type === 'direct-connection' && direct.ownDial && direct.direction === 'outbound')

      // The punch left from the fixed port, and the relay saw that port too (identify).
      assert.deepEqual(splice.xRemotePorts, [dialPort])
      // (B's identify over the direct connection adds what B dialled: the splicer's address.)
      await until('identify from the relay', () => tracer.observedAddrs().length > 0)
      assert.ok(tracer.observedAddrs().map(String).includes(`/ip4/${LOCALHOST}/tcp/${dialPort}`))

      // A direct, unlimited connection both ways; we were the responder in its handshakes.
      const aDirect = a.getConnections(b.peerId).find((c) => !isRelayAddr(c.remoteAddr))
      assert.ok(aDirect !== undefined, 'A has a direct connection')
      assert.equal(aDirect.direction, 'inbound')
      assert.equal(aDirect.limits, undefined)
      await until('B’s direct connection', () =>
        b.getConnections(a.peerId).some((c) => !isRelayAddr(c.remoteAddr)),
      )
      const stream = await aDirect.newStream('/ipfs/id/1.0.0')
      await stream.close()

      const attempts = attemptOutcomes(events)
      assert.deepEqual(
        attempts.map((x) => x.outcome),
        ['SUCCESS'],
      )
      const [attempt] = attempts
      assert.ok(attempt!.startRtt !== undefined && attempt!.startRtt >= 0 && attempt!.startRtt < 1)
      assert.ok(attempt!.openedAt <= attempt!.startedAt! && attempt!.startedAt! <= attempt!.endedAt)
      assert.deepEqual(attempt!.multiAddresses.map(String), [
        `/ip4/${LOCALHOST}/tcp/${splice.x}/p2p/${b.peerId.toString()}`,
      ])
      const round = outcome(events, {
        relayedConnectFailed: false,
        cancelled: false,
        directConnAtEnd: true,
        allServedAddrsRelay: true,
      })
      assert.equal(round.outcome, 'SUCCESS')
    } finally {
      await a.stop()
      await b.stop()
      await splice.close()
    }
  })

  it('as the initiator (what the dial queue makes of `initiator: false`) the handshake fails', {
    timeout: 30_000,
  }, async () => {
    const splice = await splicer()
    const dialPort = await freePort()
    const b = await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${splice.x}`)
    const a = await startClient(dialPort, {
      observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${splice.y}`)],
      role: 'initiator',
      dialTimeout: 2_000,
      lateConnectionWindow: 500,
    })
    const tracer = a.services.tracer as DcutrTracer
    try {
      await until('B’s reservation', () => relay.services.relay.reservations.has(b.peerId))
      tracer.watch(b.peerId)
      await a.dial(multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`))
      assert.equal(
        await tracer.waitForEnd(b.peerId, { maxAttempts: 1, streamOpenTimeout: 10_000 }),
        'attempts-exhausted',
      )
      const [attempt] = attemptOutcomes(tracer.trace(b.peerId))
      assert.equal(attempt?.outcome, 'FAILED')
      // Both sides run Noise as initiator: each reads the other's first message as the second.
      assert.match(attempt?.error ?? '', /handshake/)
      assert.deepEqual(splice.xRemotePorts.slice(0, 1), [dialPort], 'the connection itself was made')
      assert.equal(
        a.getConnections(b.peerId).some((c) => !isRelayAddr(c.remoteAddr)),
        false,
      )
    } finally {
      await a.stop()
      await b.stop()
      await splice.close()
    }
  })

  it('fails: B’s addresses are unreachable, three attempts FAILED, overall FAILED', {
    timeout: 30_000,
  }, async () => {
    const [dialPort, deadB, deadA] = await Promise.all([freePort(), freePort(), freePort()])
    const b = await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${deadB}`)
    const a = await startClient(dialPort, {
      observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${deadA}`)],
      lateConnectionWindow: 500,
    })
    const tracer = a.services.tracer as DcutrTracer
    try {
      await until('B’s reservation', () => relay.services.relay.reservations.has(b.peerId))
      tracer.watch(b.peerId)
      await a.dial(multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`))

      const end = await tracer.waitForEnd(b.peerId, { streamOpenTimeout: 10_000 })
      assert.equal(end, 'attempts-exhausted')
      const events = tracer.trace(b.peerId)
      const attempts = attemptOutcomes(events)
      assert.deepEqual(
        attempts.map((x) => x.outcome),
        ['FAILED', 'FAILED', 'FAILED'],
      )
      assertRefusedAttempts(attempts.map((x) => x.error))
      for (const attempt of attempts) {
        assert.deepEqual(attempt.multiAddresses.map(String), [
          `/ip4/${LOCALHOST}/tcp/${deadB}/p2p/${b.peerId.toString()}`,
        ])
        assert.ok(attempt.startedAt !== undefined)
      }
      assert.equal(
        a.getConnections(b.peerId).some((c) => !isRelayAddr(c.remoteAddr)),
        false,
      )
      const round = outcome(events, {
        relayedConnectFailed: false,
        cancelled: false,
        directConnAtEnd: false,
        allServedAddrsRelay: true,
      })
      assert.equal(round.outcome, 'FAILED')

      tracer.clear(b.peerId)
      assert.deepEqual(tracer.trace(b.peerId), [])
    } finally {
      await a.stop()
      await b.stop()
    }
  })
})
