// The whole client chain on 127.0.0.1: a real punchr server (PGlite), a js-libp2p circuit relay,
// three remotes B with the stock @libp2p/dcutr (DCUtR initiators) holding reservations on it,
// each seeded as an allocation candidate the way the honeypot records one, and the punchr
// client with two hosts running three rounds. The server is stopped in the middle of round 2
// and restarted on the same database and port once the report of that round failed to send.
//
// Loopback stands in for NATs the way the tracer's loopback test does (see its header):
// - stock dcutr drops every non-public address of ours, so the hosts announce
//   `/dns4/localhost/tcp/<y>` in CONNECT (the tracer's `observedAddrs` option; identify still
//   teaches each host its observed 127.0.0.1:<dial port>, which the client waits for);
// - loopback cannot do a TCP simultaneous open, so a splicer joins the two dials: B dials y,
//   the host dials B's announced x_i from its fixed port as the handshake responder, and
//   each side holds a connection it dialled, as after a simultaneous open.
// Each B gets its own x_i, so that no host dials the same 4-tuple twice within TIME_WAIT.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { PunchrClient } from '../../src/client/client.js'
import { PROC_NET_TCP, type ProcTcpSocket, parseProcNetTcp } from '../../src/client/loopback-peer-uid.js'
import type { QueueEvent } from '../../src/client/report-queue.js'
import type { LoopEvent } from '../../src/client/round-loop.js'
import { recordConnectionEvent } from '../../src/db/connection-events.js'
import type { Database } from '../../src/db/database.js'
import { classifyMultiaddr } from '../../src/lib/multiaddr.js'
import { createServer, type PunchrServer } from '../../src/server/server.js'
import { openTestDatabase } from '../support/databases.js'
import { assertRefusedAttempts } from '../support/refused-attempts.js'
import { loopbackServerConfig, startTestServer, testGeo } from '../support/server.js'
import { until } from '../support/until.js'

const LOCALHOST = '127.0.0.1'
const REMOTES = 3
const ROUNDS = 3

/** Joins the first socket waiting on any x listener with the first waiting on y. */
async function splicer(xCount: number) {
  const sockets: net.Socket[] = []
  const waitingX: net.Socket[] = []
  const waitingY: net.Socket[] = []
  /** Per x listener, the source ports of the connections it accepted (the hosts' dial ports). */
  const xRemotePorts: number[][] = Array.from({ length: xCount }, () => [])
  const join = () => {
    while (waitingX.length > 0 && waitingY.length > 0) {
      const x = waitingX.shift()!
      const y = waitingY.shift()!
      x.pipe(y).on('error', () => undefined)
      y.pipe(x).on('error', () => undefined)
    }
  }
  const listen = (onSocket: (socket: net.Socket) => void) => {
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.on('error', () => undefined)
      onSocket(socket)
      join()
    })
    return new Promise<net.Server>((resolve) => server.listen(0, LOCALHOST, () => resolve(server)))
  }
  const xs = await Promise.all(
    Array.from({ length: xCount }, (_, i) =>
      listen((socket) => {
        xRemotePorts[i]!.push(socket.remotePort ?? 0)
        waitingX.push(socket)
      }),
    ),
  )
  const y = await listen((socket) => waitingY.push(socket))
  const port = (s: net.Server) => (s.address() as net.AddressInfo).port
  return {
    x: xs.map(port),
    y: port(y),
    xRemotePorts,
    async close() {
      for (const socket of sockets) socket.destroy()
      await Promise.all([...xs, y].map((s) => new Promise((resolve) => s.close(resolve))))
    },
  }
}

const base = () => ({ connectionEncrypters: [noise()], streamMuxers: [yamux()] })

async function startRelay() {
  return await createLibp2p({
    ...base(),
    addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`] },
    transports: [tcp()],
    services: { identify: identify(), ping: ping(), relay: circuitRelayServer() },
  })
}

/** B: stock dcutr, a reservation on the relay, `announce` as its only own address. */
async function startRemote(relayAddr: Multiaddr, announce: string) {
  return await createLibp2p({
    ...base(),
    addresses: {
      listen: [`/ip4/${LOCALHOST}/tcp/0`, `${relayAddr.toString()}/p2p-circuit`],
      announce: [announce],
    },
    transports: [tcp(), circuitRelayTransport()],
    services: { identify: identify(), ping: ping(), dcutr: dcutr() },
  })
}

/**
 * What the honeypot records for a NATed, DCUtR-capable remote: its relay address, and its
 * protocols, among them /libp2p/dcutr (claimed even by the remotes that will not use it).
 */
async function seedCandidate(db: Database, remote: Libp2p, relayedAddr: Multiaddr): Promise<void> {
  const addr = classifyMultiaddr(relayedAddr)
  await recordConnectionEvent(
    db,
    {
      remoteId: remote.peerId.toString(),
      agentVersion: 'js-libp2p (loopback test)',
      protocols: [...new Set([...remote.getProtocols(), '/libp2p/dcutr'])],
      listenAddrs: [addr],
      connectionAddr: addr,
      openedAt: new Date(),
    },
    () => ({ country: null, asn: null }),
  )
}

async function restartServer(db: Database, port: number): Promise<PunchrServer> {
  const server = await createServer(loopbackServerConfig({ host: LOCALHOST, port }), {
    db,
    geo: await testGeo(),
  })
  await server.start()
  return server
}

describe('punchr client on loopback', { timeout: 180_000 }, () => {
  let db: Database
  let relay: Awaited<ReturnType<typeof startRelay>>
  let relayAddr: Multiaddr
  let splice: Awaited<ReturnType<typeof splicer>>
  const remotes: Libp2p[] = []
  let queueDir: string

  before(async () => {
    db = await openTestDatabase('pglite')
    relay = await startRelay()
    relayAddr = relay.getMultiaddrs()[0]!
    splice = await splicer(REMOTES)
    for (let i = 0; i < REMOTES; i++) {
      const b = await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${splice.x[i]}`)
      remotes.push(b)
      await until('B’s reservation', () => relay.services.relay.reservations.has(b.peerId))
      await seedCandidate(db, b, multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`))
    }
    queueDir = await mkdtemp(join(tmpdir(), 'punchr-client-queue-'))
  })

  after(async () => {
    await Promise.allSettled(remotes.map((b) => b.stop()))
    await relay?.stop()
    await splice?.close()
    await db?.close()
    if (queueDir !== undefined) await rm(queueDir, { recursive: true, force: true })
  })

  it('punches every remote, reports every round, and loses none across a server restart', async () => {
    const first = await startTestServer(db)
    const apiKey = await first.addKey()
    const port = first.server.grpcPort
    let current: PunchrServer = first.server
    let stopped: Promise<void> | undefined
    let restarted: Promise<PunchrServer> | undefined

    const loopEvents: LoopEvent[] = []
    const queueEvents: QueueEvent[] = []
    const client = await PunchrClient.create(
      {
        api: { server: `${LOCALHOST}:${port}`, tls: false, tlsSkipVerify: false },
        apiKey,
        hostKeys: await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]),
        version: '0.0.0-test',
        rounds: ROUNDS,
        bootstrapPeers: [relayAddr],
        queueDir,
        listenHost: LOCALHOST,
        punchPrivateAddrs: true,
        metrics: { port: 0 },
      },
      {
        tracer: { observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${splice.y}`)] },
        round: { streamOpenTimeout: 10_000 },
        notFoundWait: 200,
        apiRetry: { initial: 100, max: 400 },
        queue: { backoff: { initial: 100, max: 400 } },
        observeTimeout: 5_000,
        flushTimeout: 20_000,
        onLoopEvent: (event) => {
          loopEvents.push(event)
          // Round 2 got its remote; take the server away before its report is sent.
          if (event.type === 'round-started' && event.round === 2) stopped = current.destroy()
        },
        onQueueEvent: (event) => {
          queueEvents.push(event)
          // Round 2's report failed to go out twice (the second time against a closed port):
          // bring the server back on the same port.
          const retries = queueEvents.filter((e) => e.type === 'retry').length
          if (retries >= 2 && stopped !== undefined && restarted === undefined) {
            restarted = stopped.then(() => restartServer(db, port)).then((s) => (current = s))
          }
        },
      },
    )
    try {
      await client.run()
    } finally {
      client.stop()
      await stopped
      await (await restarted)?.destroy()
      await first.stop()
    }

    // ── the client's view ───────────────────────────────────────────────────────────────
    const finished = loopEvents.filter((e) => e.type === 'round-finished')
    assert.equal(finished.length, ROUNDS)
    assert.ok(restarted !== undefined, 'round 2’s report met a stopped server')
    const retried = queueEvents.filter((e) => e.type === 'retry')
    assert.ok(retried.length >= 2, 'the report met the stopped server more than once')
    assert.ok(
      retried.every((e) => e.error.kind === 'transient'),
      `a stopped server is a transient error: ${JSON.stringify(retried.map((e) => e.error))}`,
    )
    const queued = queueEvents.filter((e) => e.type === 'queued').map((e) => e.id)
    const sent = queueEvents.filter((e) => e.type === 'sent').map((e) => e.id)
    assert.equal(queued.length, ROUNDS)
    assert.deepEqual([...sent].sort(), [...queued].sort(), 'every queued report was accepted')
    assert.equal(queueEvents.filter((e) => e.type === 'rejected').length, 0)
    assert.deepEqual(
      (await readdir(queueDir)).filter((n) => n !== 'rejected'),
      [],
      'nothing left on disk',
    )
    // Each punch left from the dialling host's fixed port to the remote's splice address.
    const hostPorts = new Map<string, number[]>()
    for (const e of finished) {
      const b = remotes.findIndex((r) => r.peerId.equals(e.target.remote))
      assert.notEqual(b, -1)
      assert.equal(splice.xRemotePorts[b]!.length, 1, `one punch dial reached B${b}`)
      hostPorts.set(e.host.toString(), [
        ...(hostPorts.get(e.host.toString()) ?? []),
        splice.xRemotePorts[b]![0]!,
      ])
    }
    assert.equal(hostPorts.size, 2, 'both hosts measured (rotation)')
    for (const ports of hostPorts.values()) assert.equal(new Set(ports).size, 1, 'a host dials from one port')

    // ── what the server stored ───────────────────────────────────────────────────────────
    const results = await db.query<{
      id: string | number
      outcome: string
      has_direct_conns: boolean
      attempt_count: number
      ordered: boolean
      connect_ms: number
      round_ms: number
      final_transport: string | null
    }>(
      `SELECT r.id, r.outcome, r.has_direct_conns, r.attempt_count, r.final_transport,
              r.connect_started_at <= r.connect_ended_at AND r.connect_ended_at <= r.ended_at AS ordered,
              EXTRACT(EPOCH FROM r.connect_ended_at - r.connect_started_at) * 1000 AS connect_ms,
              EXTRACT(EPOCH FROM r.ended_at - r.connect_started_at) * 1000 AS round_ms
       FROM hole_punch_results r ORDER BY r.id`,
    )
    assert.equal(results.length, ROUNDS, 'one stored result per round: none lost, none twice')
    const remotesStored = await db.query<{ n: string | number }>(
      'SELECT count(DISTINCT remote_id) AS n FROM hole_punch_results',
    )
    assert.equal(Number(remotesStored[0]!.n), ROUNDS, 'three different remotes')
    for (const r of results) {
      assert.equal(r.outcome, 'SUCCESS')
      assert.equal(r.has_direct_conns, true)
      assert.equal(r.final_transport, 'tcp')
      assert.ok(r.ordered, 'connect_started ≤ connect_ended ≤ ended')
    }

    const attempts = await db.query<{
      result: string | number
      attempt_number: number
      outcome: string
      ordered: boolean
      start_rtt: number | null
      punch_ms: number | null
      error: string | null
    }>(
      `SELECT a.hole_punch_result_id AS result, a.attempt_number, a.outcome, a.start_rtt, a.error,
              r.connect_started_at <= r.connect_ended_at AND r.connect_ended_at <= a.opened_at
                AND a.opened_at <= a.started_at AND a.started_at <= a.ended_at
                AND a.ended_at <= r.ended_at AS ordered,
              EXTRACT(EPOCH FROM a.ended_at - a.started_at) * 1000 AS punch_ms
       FROM hole_punch_attempts a JOIN hole_punch_results r ON r.id = a.hole_punch_result_id
       ORDER BY a.hole_punch_result_id, a.attempt_number`,
    )
    assert.equal(attempts.length, ROUNDS, 'one attempt per round')
    for (const a of attempts) {
      assert.equal(a.attempt_number, 1)
      assert.equal(a.outcome, 'SUCCESS')
      assert.equal(a.ordered, true, 'connect_started ≤ connect_ended ≤ opened ≤ started ≤ ended')
      assert.ok(a.start_rtt !== null && a.start_rtt >= 0 && a.start_rtt < 1)
      assert.equal(a.error, null)
    }

    const latencies = await db.query<{
      result: string | number
      mtype: string
      n: number
      ok: number
      negative: number
    }>(
      `SELECT hole_punch_result_id AS result, mtype::text AS mtype, cardinality(rtts) AS n,
              success_count AS ok,
              (SELECT count(*) FROM unnest(rtts) AS t(rtt) WHERE rtt < 0)::int AS negative
       FROM latency_measurements ORDER BY hole_punch_result_id, mtype`,
    )
    for (const r of results) {
      const mine = latencies.filter((l) => String(l.result) === String(r.id))
      const byType = new Map(mine.map((l) => [l.mtype, l]))
      assert.equal(byType.get('TO_RELAY')?.ok, 10, 'ten pings to the relay')
      assert.equal(byType.get('TO_REMOTE_AFTER_HOLE_PUNCH')?.ok, 10, 'ten pings over the punched connection')
      assert.ok(byType.has('TO_REMOTE_THROUGH_RELAY'), 'pings through the relay were recorded')
      for (const l of mine) assert.equal(l.negative, 0, 'no -1 sentinels')
    }

    // For the record (the numbers of the report to the lead).
    const timings = results.map((r, i) => ({
      round: i + 1,
      connectMs: Number(r.connect_ms).toFixed(1),
      roundMs: Number(r.round_ms).toFixed(1),
      punchMs: Number(attempts[i]?.punch_ms).toFixed(1),
      startRttMs: ((attempts[i]?.start_rtt ?? 0) * 1000).toFixed(2),
      throughRelay: latencies
        .filter((l) => String(l.result) === String(r.id) && l.mtype === 'TO_REMOTE_THROUGH_RELAY')
        .map((l) => `${l.ok}/${l.n} ok`)[0],
    }))
    const retryCodes = retried.map((e) => e.error.code)
    process.stderr.write(`# client loopback timings ${JSON.stringify({ timings, retryCodes })}\n`)
  })
})

/** A remote that holds a reservation but speaks no DCUtR: it never opens a dcutr stream. */
async function startSilentRemote(relayAddr: Multiaddr) {
  return await createLibp2p({
    ...base(),
    addresses: { listen: [`/ip4/${LOCALHOST}/tcp/0`, `${relayAddr.toString()}/p2p-circuit`] },
    transports: [tcp(), circuitRelayTransport()],
    services: { identify: identify(), ping: ping() },
  })
}

/** A port nobody listens on (right now). */
async function deadPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('punchr client on loopback: the other outcomes', { timeout: 180_000 }, () => {
  let db: Database
  let relay: Awaited<ReturnType<typeof startRelay>>
  let relayAddr: Multiaddr
  const nodes: Libp2p[] = []
  let queueDir: string
  let deadA: number

  before(async () => {
    db = await openTestDatabase('pglite')
    relay = await startRelay()
    relayAddr = relay.getMultiaddrs()[0]!
    queueDir = await mkdtemp(join(tmpdir(), 'punchr-client-queue-'))
    deadA = await deadPort()
  })

  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await relay?.stop()
    await db?.close()
    if (queueDir !== undefined) await rm(queueDir, { recursive: true, force: true })
  })

  async function seedRemote(node: Libp2p): Promise<void> {
    nodes.push(node)
    await until('the reservation', () => relay.services.relay.reservations.has(node.peerId))
    await seedCandidate(
      db,
      node,
      multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${node.peerId.toString()}`),
    )
  }

  function clientConfig(
    server: string,
    apiKey: string,
    rounds: number,
    keys: Awaited<ReturnType<typeof generateKeyPair>>[],
  ) {
    return {
      api: { server, tls: false, tlsSkipVerify: false },
      apiKey,
      hostKeys: keys,
      version: '0.0.0-test',
      rounds,
      bootstrapPeers: [relayAddr],
      queueDir,
      listenHost: LOCALHOST,
      punchPrivateAddrs: true,
    }
  }

  it('FAILED with three recorded attempts, NO_STREAM, and NO_CONNECTION, each with its error', async () => {
    // FAILED: both sides' punch addresses are closed ports, so every dial is refused.
    await seedRemote(await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${await deadPort()}`))
    // NO_STREAM: reachable through the relay, never opens /libp2p/dcutr.
    await seedRemote(await startSilentRemote(relayAddr))
    // NO_CONNECTION: the honeypot saw it on a relay where it holds no reservation (any more).
    const gone = await startSilentRemote(relayAddr)
    await seedRemote(gone)
    await relay.services.relay.reservations.delete(gone.peerId)

    const server = await startTestServer(db)
    const apiKey = await server.addKey()
    const finished: Extract<LoopEvent, { type: 'round-finished' }>[] = []
    const client = await PunchrClient.create(
      clientConfig(`${LOCALHOST}:${server.server.grpcPort}`, apiKey, 3, [await generateKeyPair('Ed25519')]),
      {
        tracer: {
          observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${deadA}`)],
          lateConnectionWindow: 300,
        },
        round: { streamOpenTimeout: 2_000 },
        notFoundWait: 200,
        flushTimeout: 10_000,
        onLoopEvent: (event) => {
          if (event.type === 'round-finished') finished.push(event)
        },
      },
    )
    try {
      await client.run()
    } finally {
      await server.stop()
    }
    assert.deepEqual(finished.map((e) => e.result.outcome).sort(), ['FAILED', 'NO_CONNECTION', 'NO_STREAM'])

    const stored = await db.query<{
      outcome: string
      error: string | null
      attempts: string[]
      errors: string[]
    }>(
      `SELECT r.outcome, r.error,
              coalesce(array_agg(a.outcome::text ORDER BY a.attempt_number) FILTER (WHERE a.id IS NOT NULL), '{}') AS attempts,
              coalesce(array_agg(a.error ORDER BY a.attempt_number) FILTER (WHERE a.id IS NOT NULL), '{}') AS errors
       FROM hole_punch_results r LEFT JOIN hole_punch_attempts a ON a.hole_punch_result_id = r.id
       GROUP BY r.id, r.outcome, r.error ORDER BY r.outcome`,
    )
    const byOutcome = new Map(stored.map((r) => [r.outcome, r]))
    assert.equal(stored.length, 3)
    const failed = byOutcome.get('FAILED')!
    assert.deepEqual(
      failed.attempts,
      ['FAILED', 'FAILED', 'FAILED'],
      'silence after failed attempts is FAILED, not NO_STREAM',
    )
    assertRefusedAttempts(failed.errors)
    assert.match(failed.error ?? '', /none of the 3 attempt\(s\) succeeded/)
    assert.deepEqual(byOutcome.get('NO_STREAM')!.attempts, [])
    assert.match(byOutcome.get('NO_STREAM')!.error ?? '', /opened no \/libp2p\/dcutr stream within 2 s/)
    assert.match(byOutcome.get('NO_CONNECTION')!.error ?? '', /^relayed connection failed: /)
  })

  it('a stop in the middle of a round reports that round as CANCELLED', async () => {
    await seedRemote(await startSilentRemote(relayAddr))
    const server = await startTestServer(db)
    const apiKey = await server.addKey('stopper')
    let started = 0
    const outcomes: string[] = []
    const client = await PunchrClient.create(
      clientConfig(`${LOCALHOST}:${server.server.grpcPort}`, apiKey, 0, [await generateKeyPair('Ed25519')]),
      {
        tracer: { observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${deadA}`)] },
        round: { streamOpenTimeout: 60_000 },
        notFoundWait: 60_000,
        flushTimeout: 10_000,
        onLoopEvent: (event) => {
          if (event.type === 'round-started' && started++ === 0) setTimeout(() => client.stop(), 300)
          if (event.type === 'round-finished') outcomes.push(event.result.outcome)
        },
      },
    )
    const before = Date.now()
    try {
      await client.run()
    } finally {
      await server.stop()
    }
    assert.ok(Date.now() - before < 15_000, 'the stop did not wait for the 60 s stream timeout')
    assert.deepEqual(outcomes, ['CANCELLED'])
    const stored = await db.query<{ outcome: string; error: string | null }>(
      `SELECT r.outcome, r.error FROM hole_punch_results r JOIN clients c ON c.id = r.client_id
       JOIN authorizations k ON k.id = c.authorization_id WHERE k.username = 'stopper'`,
    )
    assert.deepEqual(stored, [{ outcome: 'CANCELLED', error: 'stopped by the user' }], 'flushed before exit')
  })
})

describe('punchr client with nothing to measure', { timeout: 120_000 }, () => {
  it('rests its hosts (connections reset, no TIME_WAIT) and wakes one for the next round', async () => {
    const db = await openTestDatabase('pglite')
    const relay = await startRelay()
    const relayAddr = relay.getMultiaddrs()[0]!
    const relayPort = Number(relayAddr.getComponents().find((c) => c.name === 'tcp')?.value)
    const splice = await splicer(1)
    const remote = await startRemote(relayAddr, `/ip4/${LOCALHOST}/tcp/${splice.x[0]}`)
    const queueDir = await mkdtemp(join(tmpdir(), 'punchr-client-queue-'))
    const server = await startTestServer(db)
    const events: LoopEvent[] = []
    /** The relay's connections to the hosts before they rested, and after. */
    const relayConnections: { before?: number; after?: number } = {}
    let timeWaitAfterRest: ProcTcpSocket[] | undefined
    let seeded: Promise<void> | undefined
    const hosts = () => client.peerIds.map((id) => peerIdFromString(id))
    const hostConnections = () => hosts().reduce((n, id) => n + relay.getConnections(id).length, 0)
    const client = await PunchrClient.create(
      {
        api: { server: `${LOCALHOST}:${server.server.grpcPort}`, tls: false, tlsSkipVerify: false },
        apiKey: await server.addKey(),
        hostKeys: await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]),
        version: '0.0.0-test',
        rounds: 1,
        bootstrapPeers: [relayAddr],
        queueDir,
        listenHost: LOCALHOST,
        punchPrivateAddrs: true,
      },
      {
        tracer: { observedAddrs: () => [multiaddr(`/dns4/localhost/tcp/${splice.y}`)] },
        round: { streamOpenTimeout: 10_000 },
        notFoundWait: 100,
        restAfterIdle: 300,
        observeTimeout: 5_000,
        flushTimeout: 10_000,
        onLoopEvent: (event) => {
          events.push(event)
          if (event.type === 'no-remote' && relayConnections.before === undefined)
            relayConnections.before = hostConnections()
          if (event.type === 'rested' && seeded === undefined)
            seeded = (async () => {
              await until('the relay sees the hosts’ connections closed', () => hostConnections() === 0)
              relayConnections.after = hostConnections()
              timeWaitAfterRest = await timeWaitWith(relayPort)
              await until('B’s reservation', () => relay.services.relay.reservations.has(remote.peerId))
              await seedCandidate(
                db,
                remote,
                multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${remote.peerId.toString()}`),
              )
            })()
        },
      },
    )
    try {
      await client.run()
      await seeded
    } finally {
      client.stop()
      await server.stop()
      await remote.stop()
      await relay.stop()
      await splice.close()
      await db.close()
      await rm(queueDir, { recursive: true, force: true })
    }

    const types = events.map((e) => e.type)
    assert.ok(
      relayConnections.before !== undefined && relayConnections.before >= 2,
      'each host was connected',
    )
    assert.equal(types.filter((t) => t === 'rested').length, 1, 'the hosts rested once')
    const rested = events.find((e) => e.type === 'rested')
    assert.deepEqual(rested, { type: 'rested', hosts: 2 })
    assert.equal(relayConnections.after, 0)
    assert.deepEqual(timeWaitAfterRest, [], 'reset connections leave no TIME_WAIT on the fixed dial ports')
    // The host the server gave the remote reconnected, then measured it.
    const woke = events.filter((e) => e.type === 'woke')
    assert.equal(woke.length, 1)
    assert.equal(woke[0]!.error, undefined)
    const started = events.find((e) => e.type === 'round-started')
    assert.ok(started?.host.equals(woke[0]!.host))
    assert.ok(types.indexOf('woke') < types.indexOf('round-started'))
    const finished = events.find((e) => e.type === 'round-finished')
    assert.equal(finished?.result.outcome, 'SUCCESS')
  })
})

/** TCP sockets in TIME_WAIT from or to `port` on this machine. */
async function timeWaitWith(port: number): Promise<ProcTcpSocket[]> {
  const TIME_WAIT = 0x06
  const tables = await Promise.all(PROC_NET_TCP.map((path) => readFile(path, 'utf8').catch(() => '')))
  return tables
    .flatMap(parseProcNetTcp)
    .filter((s) => s.state === TIME_WAIT && (s.localPort === port || s.remotePort === port))
}
