// The round loop's dealings with the server and the queue, with fakes (the rounds themselves
// run in test/integration/client-loopback.test.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ApiError, Code } from '../../src/client/grpc-call.js'
import type { MeasuringHost } from '../../src/client/host.js'
import { RoundStats, roundLine } from '../../src/client/round-log.js'
import { FatalApiError, type LoopEvent, parseTarget, RoundLoop } from '../../src/client/round-loop.js'
import {
  GetAddrInfoResponseSchema,
  RegisterResponseSchema,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'

/** Just enough of a host for registration and GetAddrInfo. */
async function fakeHost(): Promise<MeasuringHost> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return {
    peerId,
    node: { getProtocols: () => ['/ipfs/id/1.0.0', '/libp2p/dcutr'] },
  } as unknown as MeasuringHost
}

function fakeQueue(fullFor = 0) {
  let checks = 0
  return {
    enqueue: async () => 'id',
    fullReason: () => (checks++ < fullFor ? '2 reports queued (limit 2)' : undefined),
    waitForSpace: async () => undefined,
  }
}

describe('round loop', () => {
  it('registers every host with the agent version and its protocols', async () => {
    const hosts = [await fakeHost(), await fakeHost()]
    const registered: { agentVersion: string; protocols: string[] }[] = []
    const loop = new RoundLoop({
      hosts,
      api: {
        register: async (req) => {
          registered.push({ agentVersion: req.agentVersion as string, protocols: req.protocols as string[] })
          return create(RegisterResponseSchema, { dbPeerId: 1n })
        },
        getAddrInfo: async () => create(GetAddrInfoResponseSchema),
      },
      queue: fakeQueue(),
      apiKey: 'k',
      agentVersion: 'punchr/ts-client/0.1.0 transports=tcp',
      rounds: 1,
    })
    await loop.registerAll(new AbortController().signal)
    assert.equal(registered.length, 2)
    assert.deepEqual(registered[0], {
      agentVersion: 'punchr/ts-client/0.1.0 transports=tcp',
      protocols: ['/ipfs/id/1.0.0', '/libp2p/dcutr'],
    })
  })

  it('waits after NOT_FOUND, backs off on UNAVAILABLE, re-registers after FAILED_PRECONDITION', async () => {
    const answers = [
      new ApiError('no remote', Code.NotFound),
      new ApiError('down', Code.Unavailable),
      new ApiError('down', Code.Unavailable),
      new ApiError('host unknown; call Register first', Code.FailedPrecondition),
    ]
    const controller = new AbortController()
    const waits: number[] = []
    const events: LoopEvent[] = []
    let registrations = 0
    const loop = new RoundLoop({
      hosts: [await fakeHost()],
      api: {
        register: async () => {
          registrations++
          return create(RegisterResponseSchema, { dbPeerId: 1n })
        },
        getAddrInfo: async () => {
          const answer = answers.shift()
          if (answer === undefined) {
            controller.abort()
            throw new ApiError('stopped', Code.Canceled)
          }
          throw answer
        },
      },
      queue: fakeQueue(),
      apiKey: 'k',
      agentVersion: 'a',
      rounds: 0,
      notFoundWait: 30_000,
      retry: { initial: 1_000, max: 30_000 },
      sleep: async (ms) => void waits.push(ms),
      onEvent: (e) => events.push(e),
    })
    await loop.run(controller.signal)
    assert.equal(waits[0], 30_000, 'NOT_FOUND: the fixed wait')
    assert.ok(waits[1]! >= 500 && waits[1]! <= 1_000 && waits[2]! >= 1_000 && waits[2]! <= 2_000, `${waits}`)
    assert.equal(registrations, 1)
    assert.deepEqual(
      events.map((e) => e.type),
      ['no-remote', 'api-error', 'api-error', 'registered'],
    )
    assert.equal(loop.rounds, 0)
  })

  it('retryNow() ends the wait after a failed call at once, not a wait for a remote', async () => {
    const answers = [new ApiError('down', Code.Unavailable), new ApiError('no remote', Code.NotFound)]
    const controller = new AbortController()
    const calls: number[] = []
    let loop: RoundLoop | undefined
    loop = new RoundLoop({
      hosts: [await fakeHost()],
      api: {
        register: async () => create(RegisterResponseSchema, { dbPeerId: 1n }),
        getAddrInfo: async () => {
          calls.push(Date.now())
          const answer = answers.shift()
          if (answer === undefined) {
            controller.abort()
            throw new ApiError('stopped', Code.Canceled)
          }
          // The queue hears from the server while the loop waits after this call.
          setTimeout(() => loop?.retryNow(), 50)
          throw answer
        },
      },
      queue: fakeQueue(),
      apiKey: 'k',
      agentVersion: 'a',
      rounds: 0,
      // Both waits are far longer than the test: only retryNow can end the first. The second
      // (NOT_FOUND) is not cut: the test ends it by aborting.
      notFoundWait: 600_000,
      retry: { initial: 600_000, max: 600_000 },
    })
    const stopped = loop.run(controller.signal)
    try {
      const deadline = Date.now() + 5_000
      while (calls.length < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(calls.length, 2, 'GetAddrInfo asked again once the server was heard from')
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(calls.length, 2, 'still waiting for a remote after retryNow')
    } finally {
      controller.abort()
      await stopped
    }
  })

  it('rests the hosts once nothing came for restAfterIdle, and skips a remote its host cannot wake for', async () => {
    const notFound = () => new ApiError('no remote', Code.NotFound)
    const remote = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
    const target = create(GetAddrInfoResponseSchema, {
      remoteId: remote.toMultihash().bytes,
      multiAddresses: [multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${remote}/p2p-circuit/p2p/${remote}`).bytes],
    })
    // Two waits of 30 s reach the 60 s of idleness: the third NOT_FOUND rests the hosts (once,
    // not again at the fourth). The remote then goes to a host that cannot reconnect; the one
    // after it counts idleness from nothing again.
    const answers: (ApiError | typeof target)[] = [notFound(), notFound(), notFound(), notFound(), target]
    answers.push(notFound(), notFound())
    const controller = new AbortController()
    const events: LoopEvent[] = []
    const waits: number[] = []
    const calls: string[] = []
    const restingHost = async (name: string) => {
      const { peerId, node } = await fakeHost()
      let resting = false
      const host = {
        peerId,
        node,
        get resting() {
          return resting
        },
        rest: () => {
          calls.push(`${name} rest`)
          resting = true
        },
        wake: async () => {
          calls.push(`${name} wake`)
          throw new Error('host 12D3… reached none of the bootstrap peers (ECONNREFUSED)')
        },
      }
      return host as unknown as MeasuringHost
    }
    const loop = new RoundLoop({
      hosts: [await restingHost('a'), await restingHost('b')],
      api: {
        register: async () => create(RegisterResponseSchema, { dbPeerId: 1n }),
        getAddrInfo: async () => {
          const answer = answers.shift()
          if (answer === undefined) {
            controller.abort()
            throw new ApiError('stopped', Code.Canceled)
          }
          if (answer instanceof ApiError) throw answer
          return answer
        },
      },
      queue: fakeQueue(),
      apiKey: 'k',
      agentVersion: 'a',
      rounds: 0,
      notFoundWait: 30_000,
      restAfterIdle: 60_000,
      retry: { initial: 1_000, max: 30_000 },
      sleep: async (ms) => void waits.push(ms),
      onEvent: (e) => events.push(e),
    })
    await loop.run(controller.signal)
    assert.deepEqual(
      events.map((e) => e.type),
      ['no-remote', 'no-remote', 'rested', 'no-remote', 'no-remote', 'woke', 'no-remote', 'no-remote'],
    )
    assert.deepEqual(calls, ['a rest', 'b rest', 'a wake'])
    const woke = events.find((e) => e.type === 'woke')
    assert.match(woke?.error ?? '', /reached none of the bootstrap peers/)
    assert.deepEqual(waits, [30_000, 30_000, 30_000, 30_000, 1_000, 30_000, 30_000])
    assert.equal(loop.rounds, 0, 'no round without an observed address')
  })

  it('counts the waits while the server is unreachable as idle time too', async () => {
    const controller = new AbortController()
    const events: LoopEvent[] = []
    let failures = 0
    const { peerId, node } = await fakeHost()
    let rests = 0
    const host = {
      peerId,
      node,
      resting: false,
      rest() {
        rests++
        this.resting = true
      },
    }
    const loop = new RoundLoop({
      hosts: [host as unknown as MeasuringHost],
      api: {
        register: async () => create(RegisterResponseSchema, { dbPeerId: 1n }),
        getAddrInfo: async () => {
          if (++failures > 6) controller.abort()
          throw new ApiError('server down', Code.Unavailable)
        },
      },
      queue: fakeQueue(),
      apiKey: 'k',
      agentVersion: 'a',
      rounds: 0,
      // Each wait is 0.5–1 s (jitter): more than 2 s take three to five of them.
      restAfterIdle: 2_001,
      retry: { initial: 1_000, max: 1_000 },
      sleep: async () => undefined,
      onEvent: (e) => events.push(e),
    })
    await loop.run(controller.signal)
    const types = events.map((e) => e.type)
    assert.equal(rests, 1)
    assert.deepEqual(
      types.filter((t) => t === 'rested'),
      ['rested'],
    )
    const before = types.indexOf('rested')
    assert.ok(before >= 3 && before <= 5, `rested after ${before} waits: ${types}`)
  })

  it('gives up on an API key the server refuses', async () => {
    const loop = new RoundLoop({
      hosts: [await fakeHost()],
      api: {
        register: async () => {
          throw new ApiError('api_key: unknown API key', Code.Unauthenticated)
        },
        getAddrInfo: async () => create(GetAddrInfoResponseSchema),
      },
      queue: fakeQueue(),
      apiKey: 'wrong',
      agentVersion: 'a',
      rounds: 1,
    })
    await assert.rejects(loop.registerAll(new AbortController().signal), FatalApiError)
  })

  it('pauses measuring while the report queue is full', async () => {
    const controller = new AbortController()
    const events: LoopEvent[] = []
    const loop = new RoundLoop({
      hosts: [await fakeHost()],
      api: {
        register: async () => create(RegisterResponseSchema, { dbPeerId: 1n }),
        getAddrInfo: async () => {
          controller.abort()
          throw new ApiError('stopped', Code.Canceled)
        },
      },
      queue: fakeQueue(2),
      apiKey: 'k',
      agentVersion: 'a',
      rounds: 0,
      onEvent: (e) => events.push(e),
    })
    await loop.run(controller.signal)
    assert.deepEqual(
      events.map((e) => e.type),
      ['paused', 'resumed', 'paused', 'resumed'],
    )
  })

  it('reads the remote and its relay addresses from GetAddrInfo, skipping bad ones', () => {
    const remote = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
    const relayed = multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${remote}/p2p-circuit/p2p/${remote}`)
    const target = parseTarget(
      create(GetAddrInfoResponseSchema, {
        remoteId: remote.toMultihash().bytes,
        multiAddresses: [relayed.bytes, new Uint8Array([0xff, 0xff])],
        protocols: [4, 6],
      }),
    )
    assert.equal(target.remote.toString(), remote.toString())
    assert.deepEqual(target.relayAddrs.map(String), [relayed.toString()])
    assert.deepEqual(target.protocols, [4, 6])
  })
})

describe('round log', () => {
  it('one line per round, and a summary', async () => {
    const host = peerIdFromString('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK')
    const remote = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
    const event: Extract<LoopEvent, { type: 'round-finished' }> = {
      type: 'round-finished',
      round: 3,
      host,
      target: { remote, relayAddrs: [], protocols: [] },
      queued: 'x',
      result: {
        report: create(TrackHolePunchRequestSchema),
        outcome: 'SUCCESS',
        durationMs: 1234,
        end: 'direct-connection',
        refusedPunchTargets: { private: 1 },
        attempts: [
          { attempt: 1, openedAt: 1n, endedAt: 2n, elapsedTime: 0, outcome: 'FAILED', multiAddresses: [] },
          { attempt: 2, openedAt: 3n, endedAt: 4n, elapsedTime: 0, outcome: 'SUCCESS', multiAddresses: [] },
        ],
      },
    }
    assert.equal(
      roundLine(event, { reports: 2, bytes: 10 }),
      'round 3  host 12D3…JsNK → 12D3…fsbE  SUCCESS  attempts 2 (FAILED,SUCCESS)  1.23 s  queue 2',
    )
    const stats = new RoundStats()
    stats.onLoopEvent(event)
    stats.onLoopEvent({ ...event, result: { ...event.result, outcome: 'FAILED' } })
    stats.onQueueEvent({ type: 'sent', id: 'x', attempts: 1, depth: { reports: 0, bytes: 0 } })
    const summary = stats.summary({ reports: 1, bytes: 10 }, '/q')
    assert.match(summary, /2 round\(s\)/)
    assert.match(summary, /outcomes: (SUCCESS 1, FAILED 1|FAILED 1, SUCCESS 1)/)
    assert.match(summary, /success rate SUCCESS\/\(SUCCESS\+FAILED\): 50.0 %/)
    assert.match(summary, /1 accepted, 0 rejected, 1 still queued/)
    assert.match(summary, /queued reports in \/q are sent at the next start/)
  })
})
