import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  type AttemptOutcome,
  type AttemptOutcomeKind,
  attemptOutcomes,
  decodeHolePunch,
  encodeHolePunch,
  HolePunchType,
  MAX_MESSAGE_SIZE,
  MalformedMessageError,
  MessageTooLargeError,
  type OverallFacts,
  type OverallOutcomeKind,
  outcome,
  overallOutcome,
  type TraceEvent,
} from '../../src/client/tracer/index.js'
import { decodeFrame, encodeFrame } from '../../src/client/tracer/pb.js'

// ── event builders: t(ms) is milliseconds after an arbitrary start ───────────────────────────

const peer = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
const START = 1_750_000_000_000_000_000n
const t = (ms: number): bigint => START + BigInt(Math.round(ms * 1e6))
const A1 = multiaddr('/ip4/11.0.0.2/tcp/4001')
const A2 = multiaddr('/ip6/2001:db8::2/tcp/4001')
const base = (attempt: number, ms: number) => ({ attempt, timestamp: t(ms), peer })

const ev = {
  opened: (a: number, ms: number): TraceEvent => ({
    type: 'stream-opened',
    ...base(a, ms),
    streamId: `s${a}`,
    connectionId: 'relayed',
    relayed: true,
  }),
  connect: (a: number, ms: number): TraceEvent => ({
    type: 'connect-received',
    ...base(a, ms),
    addrs: [A1, A2],
    invalidAddrs: 0,
    dialAddrs: [A1, A2],
  }),
  connectSent: (a: number, ms: number): TraceEvent => ({
    type: 'connect-sent',
    ...base(a, ms),
    addrs: [multiaddr('/ip4/11.0.0.1/tcp/4002')],
    source: 'identify',
  }),
  sync: (a: number, ms: number): TraceEvent => ({ type: 'sync-received', ...base(a, ms) }),
  dial: (a: number, ms: number, addr = A1): TraceEvent => ({
    type: 'dial-started',
    ...base(a, ms),
    addr,
    role: 'responder',
  }),
  dialOk: (a: number, ms: number, addr = A1): TraceEvent => ({
    type: 'dial-succeeded',
    ...base(a, ms),
    addr,
    connectionId: 'direct',
  }),
  dialFail: (a: number, ms: number, error: string, addr = A1): TraceEvent => ({
    type: 'dial-failed',
    ...base(a, ms),
    addr,
    error,
    errorName: 'Error',
  }),
  direct: (a: number | undefined, ms: number, ownDial: boolean): TraceEvent => ({
    type: 'direct-connection',
    attempt: a,
    timestamp: t(ms),
    peer,
    direction: ownDial ? 'outbound' : 'inbound',
    ownDial,
    remoteAddr: A1,
    connectionId: 'direct',
  }),
  directDial: (a: number, ms: number): TraceEvent => ({
    type: 'direct-dial-started',
    ...base(a, ms),
    addrs: [A1],
  }),
  protocolError: (a: number, ms: number, error: string): TraceEvent => ({
    type: 'protocol-error',
    ...base(a, ms),
    error,
    errorName: 'UnexpectedMessageError',
  }),
  ended: (
    a: number,
    ms: number,
    reason: Extract<TraceEvent, { type: 'attempt-ended' }>['reason'],
    error?: string,
  ) =>
    ({
      type: 'attempt-ended',
      ...base(a, ms),
      reason,
      ...(error !== undefined ? { error } : {}),
    }) as TraceEvent,
}

/** The CONNECT/SYNC exchange of attempt `a` starting at `ms`: SYNC arrives at ms + 30. */
const exchange = (a: number, ms: number): TraceEvent[] => [
  ev.opened(a, ms),
  ev.connect(a, ms + 5),
  ev.connectSent(a, ms + 6),
  ev.sync(a, ms + 30),
]

// ── attempt outcomes ─────────────────────────────────────────────────────────────────────────

interface AttemptCase {
  name: string
  events: TraceEvent[]
  expect: Array<Partial<AttemptOutcome> & { outcome: AttemptOutcomeKind }>
}

const attemptCases: AttemptCase[] = [
  {
    name: 'SUCCESS: our dial connects',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31, A1),
      ev.dial(1, 31, A2),
      ev.direct(1, 40, true),
      ev.dialOk(1, 40, A1),
      ev.dialFail(1, 41, 'another hole-punch dial connected first', A2),
      ev.ended(1, 41, 'direct-connection'),
    ],
    expect: [
      {
        outcome: 'SUCCESS',
        openedAt: t(0),
        startedAt: t(30),
        endedAt: t(40),
        startRtt: 0.025,
        elapsedTime: 0.01,
        multiAddresses: [A1, A2],
      },
    ],
  },
  {
    name: 'SUCCESS: the remote connects to us while we dial',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.direct(1, 45, false),
      ev.dialFail(1, 46, 'the remote connected to us'),
      ev.ended(1, 46, 'direct-connection'),
    ],
    expect: [{ outcome: 'SUCCESS', endedAt: t(45) }],
  },
  {
    name: 'SUCCESS: the remote connects before SYNC arrives (no punch began: no start, elapsed from opened)',
    events: [
      ev.opened(1, 0),
      ev.connect(1, 5),
      ev.connectSent(1, 6),
      ev.direct(1, 20, false),
      ev.sync(1, 30),
    ],
    expect: [{ outcome: 'SUCCESS', openedAt: t(0), startedAt: undefined, endedAt: t(20), elapsedTime: 0.02 }],
  },
  {
    name: 'SUCCESS: the remote connects just after our dials failed (late window)',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.dialFail(1, 32, 'connect ECONNREFUSED'),
      ev.ended(1, 32, 'dials-failed'),
      ev.direct(1, 80, false),
    ],
    expect: [{ outcome: 'SUCCESS', endedAt: t(80), elapsedTime: 0.05 }],
  },
  {
    name: 'FAILED: every dial failed',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31, A1),
      ev.dial(1, 31, A2),
      ev.dialFail(1, 36, 'dial did not finish within 5000 ms', A1),
      ev.dialFail(1, 37, 'connect ENETUNREACH', A2),
      ev.ended(1, 37, 'dials-failed'),
    ],
    expect: [
      {
        outcome: 'FAILED',
        endedAt: t(37),
        startedAt: t(30),
        error: `${A1.toString()}: dial did not finish within 5000 ms; ${A2.toString()}: connect ENETUNREACH`,
        multiAddresses: [A1, A2],
      },
    ],
  },
  {
    name: 'FAILED: the remote started its next attempt while we still dialled',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.dialFail(1, 5000, 'the remote started a newer attempt'),
      ev.ended(1, 5000, 'superseded', 'the remote started a newer attempt'),
      ...exchange(2, 5001),
    ],
    expect: [
      { outcome: 'FAILED', error: `${A1.toString()}: the remote started a newer attempt` },
      { outcome: 'TIMEOUT', error: 'the attempt did not end' },
    ],
  },
  {
    name: 'TIMEOUT: the stream opened and nothing came',
    events: [ev.opened(1, 0), ev.ended(1, 30_000, 'timeout', 'no terminal event within 30000 ms')],
    expect: [
      {
        outcome: 'TIMEOUT',
        openedAt: t(0),
        endedAt: t(30_000),
        elapsedTime: 30,
        error: 'no terminal event within 30000 ms',
        multiAddresses: [],
      },
    ],
  },
  {
    name: 'TIMEOUT: a dial that ignored its signal outlived the attempt',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.ended(1, 30_000, 'timeout', 'no terminal event within 30000 ms'),
    ],
    expect: [{ outcome: 'TIMEOUT', startedAt: t(30), endedAt: t(30_000) }],
  },
  {
    name: 'TIMEOUT: the trace was read while the attempt was still running',
    events: [...exchange(1, 0), ev.dial(1, 31)],
    expect: [{ outcome: 'TIMEOUT', endedAt: t(31), error: 'the attempt did not end' }],
  },
  {
    name: 'PROTOCOL_ERROR: SYNC where CONNECT was due',
    events: [
      ev.opened(1, 0),
      ev.protocolError(1, 2, 'expected CONNECT, got SYNC'),
      ev.ended(1, 2, 'protocol-error', 'expected CONNECT, got SYNC'),
    ],
    expect: [{ outcome: 'PROTOCOL_ERROR', error: 'expected CONNECT, got SYNC', endedAt: t(2) }],
  },
  {
    name: 'PROTOCOL_ERROR: the stream was reset before SYNC',
    events: [
      ev.opened(1, 0),
      ev.connect(1, 5),
      ev.connectSent(1, 6),
      ev.protocolError(1, 9, 'stream closed with an error: stream reset'),
      ev.ended(1, 9, 'protocol-error'),
    ],
    expect: [{ outcome: 'PROTOCOL_ERROR', error: 'stream closed with an error: stream reset' }],
  },
  {
    name: 'CANCELLED: the user stopped the round mid-attempt',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.dialFail(1, 50, 'cancelled'),
      ev.ended(1, 50, 'cancelled', 'cancelled'),
    ],
    expect: [{ outcome: 'CANCELLED', endedAt: t(50) }],
  },
  {
    name: 'DIRECT_DIAL: our own direct dial connected',
    events: [
      ev.directDial(1, 0),
      ev.dial(1, 0),
      ev.direct(1, 12, true),
      ev.dialOk(1, 12),
      ev.ended(1, 12, 'direct-connection'),
    ],
    expect: [{ outcome: 'DIRECT_DIAL', openedAt: t(0), startedAt: t(0), endedAt: t(12), elapsedTime: 0.012 }],
  },
  {
    name: 'a failed direct dial is no attempt: its error goes to the next hole punch',
    events: [
      ev.directDial(1, 0),
      ev.dial(1, 0),
      ev.dialFail(1, 5000, 'dial did not finish within 5000 ms'),
      ev.ended(1, 5000, 'dials-failed'),
      ...exchange(2, 5100),
      ev.dial(2, 5131),
      ev.direct(2, 5140, true),
      ev.ended(2, 5140, 'direct-connection'),
    ],
    expect: [
      {
        attempt: 2,
        outcome: 'SUCCESS',
        directDialError: `${A1.toString()}: dial did not finish within 5000 ms`,
      },
    ],
  },
  {
    name: 'several rounds on one stream: the later rounds start with their CONNECT',
    events: [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.dialFail(1, 35, 'connect ECONNREFUSED'),
      ev.ended(1, 35, 'dials-failed'),
      ev.connect(2, 5000),
      ev.connectSent(2, 5001),
      ev.sync(2, 5020),
      ev.dial(2, 5021),
      ev.direct(2, 5030, true),
      ev.ended(2, 5030, 'direct-connection'),
    ],
    expect: [
      { attempt: 1, outcome: 'FAILED', openedAt: t(0) },
      { attempt: 2, outcome: 'SUCCESS', openedAt: t(5000), startedAt: t(5020), startRtt: 0.02 },
    ],
  },
  {
    name: 'a direct connection outside any attempt (reversal) makes no attempt',
    events: [ev.direct(undefined, 100, false)],
    expect: [],
  },
]

describe('attemptOutcomes', () => {
  for (const c of attemptCases) {
    it(c.name, () => {
      const got = attemptOutcomes(c.events)
      assert.equal(got.length, c.expect.length, JSON.stringify(got.map((a) => a.outcome)))
      c.expect.forEach((want, i) => {
        const attempt = got[i]!
        for (const [key, value] of Object.entries(want)) {
          const actual = attempt[key as keyof AttemptOutcome]
          if (key === 'multiAddresses') {
            assert.deepEqual(
              (actual as AttemptOutcome['multiAddresses']).map(String),
              (value as AttemptOutcome['multiAddresses']).map(String),
            )
          } else if (typeof value === 'number' && !Number.isInteger(value)) {
            assert.ok(Math.abs((actual as number) - value) < 1e-9, `${key}: ${actual} ≠ ${value}`)
          } else {
            assert.deepEqual(actual, value, key)
          }
        }
      })
    })
  }

  it('keeps attempts ordered by number and timestamps ordered within each', () => {
    const got = attemptOutcomes([...exchange(1, 0), ev.ended(1, 31, 'dials-failed'), ...exchange(2, 40)])
    assert.deepEqual(
      got.map((a) => a.attempt),
      [1, 2],
    )
    for (const a of got) {
      assert.ok(a.openedAt <= (a.startedAt ?? a.openedAt) && (a.startedAt ?? a.openedAt) <= a.endedAt)
    }
  })
})

// ── overall outcomes (docs/OUTCOMES.md, rules in order) ─────────────────────────────────────────────

const facts = (over: Partial<OverallFacts>): OverallFacts => ({
  relayedConnectFailed: false,
  cancelled: false,
  attempts: [],
  directConnAtEnd: false,
  allServedAddrsRelay: true,
  ...over,
})
const attempts = (...kinds: AttemptOutcomeKind[]) => kinds.map((outcome) => ({ outcome }))

const overallCases: Array<{ name: string; facts: OverallFacts; expect: OverallOutcomeKind }> = [
  { name: 'relayed connect failed', facts: facts({ relayedConnectFailed: true }), expect: 'NO_CONNECTION' },
  {
    name: 'relayed connect failed beats everything',
    facts: facts({ relayedConnectFailed: true, cancelled: true, attempts: attempts('SUCCESS') }),
    expect: 'NO_CONNECTION',
  },
  { name: 'user stopped', facts: facts({ cancelled: true }), expect: 'CANCELLED' },
  {
    name: 'user stopped beats a success',
    facts: facts({ cancelled: true, attempts: attempts('SUCCESS') }),
    expect: 'CANCELLED',
  },
  { name: 'attempt SUCCESS', facts: facts({ attempts: attempts('FAILED', 'SUCCESS') }), expect: 'SUCCESS' },
  { name: 'attempt DIRECT_DIAL', facts: facts({ attempts: attempts('DIRECT_DIAL') }), expect: 'SUCCESS' },
  {
    name: 'three failed attempts',
    facts: facts({ attempts: attempts('FAILED', 'FAILED', 'FAILED') }),
    expect: 'FAILED',
  },
  {
    name: 'one failed attempt, then silence (the Go client said NO_STREAM)',
    facts: facts({ attempts: attempts('FAILED') }),
    expect: 'FAILED',
  },
  {
    name: 'timeouts and protocol errors are failures too',
    facts: facts({ attempts: attempts('TIMEOUT', 'PROTOCOL_ERROR') }),
    expect: 'FAILED',
  },
  {
    name: 'failed attempts beat a reversed connection',
    facts: facts({ attempts: attempts('FAILED'), directConnAtEnd: true }),
    expect: 'FAILED',
  },
  {
    name: 'no stream, direct connection, relay addrs only',
    facts: facts({ directConnAtEnd: true }),
    expect: 'CONNECTION_REVERSED',
  },
  {
    name: 'no stream, direct connection, but a direct addr was served',
    facts: facts({ directConnAtEnd: true, allServedAddrsRelay: false }),
    expect: 'NO_STREAM',
  },
  { name: 'no stream at all', facts: facts({}), expect: 'NO_STREAM' },
]

describe('overallOutcome', () => {
  for (const c of overallCases) {
    it(`${c.name} → ${c.expect}`, () => assert.equal(overallOutcome(c.facts), c.expect))
  }
})

describe('outcome (events → round)', () => {
  const noFacts = {
    relayedConnectFailed: false,
    cancelled: false,
    directConnAtEnd: false,
    allServedAddrsRelay: true,
  }

  it('failed attempts followed by silence are FAILED, not NO_STREAM', () => {
    const events = [
      ...exchange(1, 0),
      ev.dial(1, 31),
      ev.dialFail(1, 36, 'timeout'),
      ev.ended(1, 36, 'dials-failed'),
    ]
    const got = outcome(events, noFacts)
    assert.equal(got.outcome, 'FAILED')
    assert.deepEqual(
      got.attempts.map((a) => a.outcome),
      ['FAILED'],
    )
  })

  it('a reversed connection without any stream is CONNECTION_REVERSED', () => {
    const got = outcome([ev.direct(undefined, 100, false)], { ...noFacts, directConnAtEnd: true })
    assert.equal(got.outcome, 'CONNECTION_REVERSED')
    assert.deepEqual(got.attempts, [])
  })

  it('an empty trace is NO_STREAM', () => {
    assert.equal(outcome([], noFacts).outcome, 'NO_STREAM')
  })

  it('the second of three attempts succeeding is SUCCESS', () => {
    const events = [
      ...exchange(1, 0),
      ev.ended(1, 40, 'dials-failed'),
      ...exchange(2, 100),
      ev.direct(2, 140, true),
      ev.ended(2, 140, 'direct-connection'),
    ]
    const got = outcome(events, { ...noFacts, directConnAtEnd: true })
    assert.equal(got.outcome, 'SUCCESS')
    assert.deepEqual(
      got.attempts.map((a) => a.outcome),
      ['FAILED', 'SUCCESS'],
    )
  })
})

// ── the HolePunch codec ────────────────────────────────────────────────────────────────────

describe('HolePunch codec', () => {
  const connect = { type: HolePunchType.CONNECT, obsAddrs: [A1.bytes, A2.bytes] }

  it('round-trips CONNECT with addresses and SYNC without', () => {
    assert.deepEqual(decodeHolePunch(encodeHolePunch(connect)), connect)
    const sync = { type: HolePunchType.SYNC, obsAddrs: [] }
    assert.deepEqual(decodeHolePunch(encodeHolePunch(sync)), sync)
  })

  it('encodes as go-libp2p and js-libp2p do (field 1 varint, field 2 bytes)', () => {
    assert.deepEqual([...encodeHolePunch({ type: HolePunchType.CONNECT, obsAddrs: [] })], [0x08, 0x64])
    assert.deepEqual([...encodeHolePunch({ type: HolePunchType.SYNC, obsAddrs: [] })], [0x08, 0xac, 0x02])
    assert.deepEqual(
      [...encodeHolePunch({ type: HolePunchType.CONNECT, obsAddrs: [Uint8Array.of(1, 2)] })],
      [0x08, 0x64, 0x12, 0x02, 0x01, 0x02],
    )
  })

  it('skips unknown fields', () => {
    // field 3 varint 7, then type SYNC
    assert.deepEqual(decodeHolePunch(Uint8Array.of(0x18, 0x07, 0x08, 0xac, 0x02)), {
      type: HolePunchType.SYNC,
      obsAddrs: [],
    })
  })

  const malformed: Array<[string, number[]]> = [
    ['truncated address', [0x08, 0x64, 0x12, 0x05, 0x01]],
    ['no type', [0x12, 0x01, 0x01]],
    ['unknown type 200', [0x08, 0xc8, 0x01]],
    ['type with the wrong wire type', [0x0a, 0x00]],
    ['addresses with the wrong wire type', [0x08, 0x64, 0x10, 0x01]],
    ['truncated varint', [0x08, 0xff]],
    ['garbage', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['empty', []],
  ]
  for (const [name, bytes] of malformed) {
    it(`rejects ${name} with MalformedMessageError`, () => {
      assert.throws(() => decodeHolePunch(Uint8Array.from(bytes)), MalformedMessageError)
    })
  }

  it('frames with a varint length and decodes frames one at a time, waiting for partial ones', () => {
    const one = encodeFrame(connect)
    const two = encodeFrame({ type: HolePunchType.SYNC, obsAddrs: [] })
    assert.equal(one[0], one.byteLength - 1)
    const both = Uint8Array.from([...one, ...two])
    const first = decodeFrame(both)
    assert.deepEqual(first?.message, connect)
    assert.equal(first?.consumed, one.byteLength)
    assert.deepEqual(decodeFrame(both.subarray(one.byteLength))?.message.type, HolePunchType.SYNC)
    for (let cut = 0; cut < one.byteLength; cut++) assert.equal(decodeFrame(one.subarray(0, cut)), undefined)
  })

  it('rejects an oversized frame from its length prefix, before the body arrives', () => {
    // varint 4097 = 0x81 0x20
    assert.throws(() => decodeFrame(Uint8Array.of(0x81, 0x20)), MessageTooLargeError)
    assert.equal(decodeFrame(Uint8Array.of(0x80, 0x20)), undefined, '4096 bytes is allowed: wait for them')
  })

  it('rejects a length prefix longer than a varint may be', () => {
    assert.throws(
      () => decodeFrame(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x00), 2 ** 40),
      MalformedMessageError,
    )
  })

  it('refuses to send a message over the limit', () => {
    const big = { type: HolePunchType.CONNECT, obsAddrs: [new Uint8Array(MAX_MESSAGE_SIZE)] }
    assert.throws(() => encodeFrame(big), MessageTooLargeError)
  })
})
