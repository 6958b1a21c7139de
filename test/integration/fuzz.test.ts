import assert from 'node:assert/strict'
import http2 from 'node:http2'
import net from 'node:net'
import { after, before, it } from 'node:test'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire'
import fc from 'fast-check'
import type { Database } from '../../src/db/database.js'
import { type TrackHolePunchRequest, TrackHolePunchRequestSchema } from '../../src/gen/punchr_pb.js'
import { grpcFrame } from '../../src/lib/grpc-frame.js'
import { LIMITS } from '../../src/lib/report-limits.js'
import { describeEachDatabase } from '../support/databases.js'
import { fullReport, newPeer, type TestPeer } from '../support/fixtures.js'
import { seenByHoneypot } from '../support/honeypot-seed.js'
import { appendBytesField, grpcStatusOf, postConnect, rawHttp2Request } from '../support/raw-requests.js'
import { startTestServer, type TestServer } from '../support/server.js'

/**
 * A property-based fuzzer against every RPC of a running server (fixed seed, bounded runs):
 * random bytes, mutations of valid messages (bit flips, truncation, spliced garbage, duplicated
 * and wrongly typed fields, huge repeated fields, invalid UTF-8), and garbage HTTP/2 and TCP.
 * Whatever comes in, only the documented codes (docs/ARCHITECTURE.md) come back, the server
 * keeps serving, and every stored report is whole.
 */

const SEED = 20261125
const RUNS = 150
/** The Connect names of the codes docs/ARCHITECTURE.md documents for bad input. */
const DOCUMENTED = new Set([
  'invalid_argument',
  'unauthenticated',
  'permission_denied',
  'failed_precondition',
  'not_found',
  'resource_exhausted',
])
const METHODS = ['Register', 'GetAddrInfo', 'TrackHolePunch'] as const
/** grpc-status values by the Connect name of their code. */
const GRPC_CODE_NAMES: Record<string, string> = {
  '0': 'ok',
  '3': 'invalid_argument',
  '5': 'not_found',
  '7': 'permission_denied',
  '8': 'resource_exhausted',
  '9': 'failed_precondition',
  '16': 'unauthenticated',
}

describeEachDatabase('fuzzing the API', (getDb) => {
  let t: TestServer
  let db: Database
  let valid: Record<(typeof METHODS)[number], Uint8Array>
  let client: TestPeer

  before(async () => {
    db = getDb()
    // Failed authentications are rate-limited by design; the fuzzer sends thousands of them.
    t = await startTestServer(db)
    const key = await t.addKey('fuzz')
    const [remote, relay] = await Promise.all([newPeer(), newPeer()])
    client = await newPeer()
    await seenByHoneypot(db, remote, { relays: [relay] })
    await t.client.register({ clientId: client.bytes, agentVersion: 'fuzz', protocols: [], apiKey: key })
    valid = {
      Register: encodeRegister(client, key),
      GetAddrInfo: encodeGetAddrInfo(client, key),
      TrackHolePunch: toBinary(
        TrackHolePunchRequestSchema,
        fullReport({ client, remote, relay, apiKey: key }),
      ),
    }
  })
  after(() => t.stop())

  /**
   * Posts `body` to `method` twice: with the Connect protocol on the HTTP/1.1 port (Connect's
   * adapter answers) and as plain gRPC on the HTTP/2 port (grpc-unary.ts answers). Fails the
   * property on an undocumented answer, or when the two disagree.
   */
  async function send(method: string, body: Uint8Array): Promise<'ok' | string> {
    const res = await postConnect(t.httpUrl, method, body)
    const overConnect = res.code ?? 'ok'
    assert.ok(
      overConnect === 'ok' || DOCUMENTED.has(overConnect),
      `${method} over Connect: undocumented ${res.code} (${res.httpStatus}): ${res.message}`,
    )
    const grpc = await grpcStatus(t.server.grpcPort, `/PunchrService/${method}`, grpcFrame(body))
    const overGrpc = GRPC_CODE_NAMES[grpc.code] ?? `grpc-status ${grpc.code}`
    // GetAddrInfo hands the one remote out to the first of the two calls only.
    const handedOutOrNot = (code: string) => (method === 'GetAddrInfo' && code === 'not_found' ? 'ok' : code)
    assert.equal(
      handedOutOrNot(overGrpc),
      handedOutOrNot(overConnect),
      `${method} over gRPC: ${grpc.message}; over Connect: ${res.message}`,
    )
    return overConnect
  }

  it('random bytes get documented errors from every RPC', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...METHODS),
        fc.uint8Array({ maxLength: 2048 }),
        async (method, body) => {
          await send(method, body)
        },
      ),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('mutated valid messages get documented errors or are stored whole', async () => {
    const before = await resultCount(db)
    let accepted = 0
    let newestId = await newestResultId(db)
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), mutation(), async (method, mutate) => {
        const body = mutate(valid[method])
        const answer = await send(method, body)
        if (answer !== 'ok' || method !== 'TrackHolePunch') return
        accepted++
        // A retry of an earlier report adds no row; a new report is the newest row.
        const id = await newestResultId(db)
        if (id === newestId) return
        newestId = id
        await assertStoredAsSent(db, id, fromBinary(TrackHolePunchRequestSchema, body))
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    )
    const stored = (await resultCount(db)) - before
    // Retries of one report are stored once, so fewer rows than acceptances is fine; more is not.
    assert.ok(stored <= accepted, `${stored} rows from ${accepted} accepted reports`)
  })

  it('huge repeated fields are refused, not stored', async () => {
    const before = await resultCount(db)
    // 100 000 attempts of 5 bytes each: under the read limit, far over the entry limits.
    let body = valid.TrackHolePunch
    const attempt = new BinaryWriter().tag(1, WireType.Varint).uint64(1n).finish()
    const many = new BinaryWriter()
    many.raw(body)
    for (let i = 0; i < 100_000; i++) many.tag(6, WireType.LengthDelimited).bytes(attempt)
    body = many.finish()
    assert.equal(await send('TrackHolePunch', body), 'invalid_argument')
    // Over the read limit: refused before decoding.
    assert.equal(await send('TrackHolePunch', new Uint8Array(LIMITS.maxMessageBytes + 1)), 'invalid_argument')
    assert.equal(await resultCount(db), before)
  })

  it('a gRPC request that is not protobuf gets INVALID_ARGUMENT, not INTERNAL', async () => {
    for (const method of METHODS) {
      const status = await grpcStatus(
        t.server.grpcPort,
        `/PunchrService/${method}`,
        grpcFrame(new Uint8Array([0x00, 0xff, 0x01])),
      )
      assert.equal(status.code, '3', `${method}: grpc-status ${status.code} ${status.message}`)
      assert.match(status.message, /not a valid protobuf message/)
    }
  })

  it('garbage HTTP/2 and TCP leave the server serving', async () => {
    const grpcPort = t.server.grpcPort
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          path: fc.oneof(
            fc.constantFrom(...METHODS.map((m) => `/PunchrService/${m}`)),
            fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`),
          ),
          contentType: fc.constantFrom(
            'application/grpc',
            'application/grpc+proto',
            'text/plain',
            'application/json',
          ),
          body: fc.uint8Array({ maxLength: 512 }),
        }),
        async ({ path, contentType, body }) => {
          await http2Request(grpcPort, path, contentType, body)
        },
      ),
      { seed: SEED, numRuns: 50 },
    )
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (garbage) => {
        await rawTcp(grpcPort, garbage)
      }),
      { seed: SEED, numRuns: 30 },
    )
    const health = await fetch(`${t.httpUrl}/healthz`)
    assert.equal(health.status, 200)
    // And the API still answers properly.
    assert.equal(await send('Register', valid.Register), 'ok')
  })
})

type Mutate = (bytes: Uint8Array) => Uint8Array

/** Byte-level and field-level mutations of an encoded message. */
function mutation(): fc.Arbitrary<Mutate> {
  const flip = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(
    ([at, mask]): Mutate =>
      (b) => {
        const out = b.slice()
        if (out.length > 0) out[at % out.length]! ^= mask
        return out
      },
  )
  const truncate = fc.nat().map(
    (at): Mutate =>
      (b) =>
        b.subarray(0, at % (b.length + 1)),
  )
  const splice = fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(
    ([at, junk]): Mutate =>
      (b) => {
        const i = at % (b.length + 1)
        return concat(b.subarray(0, i), junk, b.subarray(i))
      },
  )
  const duplicate: Mutate = (b) => concat(b, b)
  // A field sent with the wrong wire type (varint where bytes are expected, and the other way).
  const wrongType = fc
    .tuple(fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
    .map(
      ([field, asVarint, n]): Mutate =>
        (b) => {
          const w = new BinaryWriter()
          w.raw(b)
          if (asVarint) w.tag(field, WireType.Varint).uint64(n)
          else w.tag(field, WireType.LengthDelimited).bytes(new Uint8Array([Number(n & 0xffn)]))
          return w.finish()
        },
    )
  // Invalid UTF-8 in whatever string field has that number (api_key, agent_version, error …).
  const badUtf8 = fc.integer({ min: 1, max: 20 }).map(
    (field): Mutate =>
      (b) =>
        appendBytesField(b, field, new Uint8Array([0xc3, 0x28, 0xff, 0xfe])),
  )
  return fc.oneof(flip, truncate, splice, fc.constant(duplicate), wrongType, badUtf8)
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function encodeRegister(client: TestPeer, key: string): Uint8Array {
  // RegisterRequest: client_id = 1, agent_version = 2, protocols = 3, api_key = 4.
  const w = new BinaryWriter()
  w.tag(1, WireType.LengthDelimited).bytes(client.bytes)
  w.tag(2, WireType.LengthDelimited).string('fuzz')
  w.tag(4, WireType.LengthDelimited).string(key)
  return w.finish()
}

function encodeGetAddrInfo(client: TestPeer, key: string): Uint8Array {
  // GetAddrInfoRequest: host_id = 1, all_host_ids = 2, api_key = 3.
  const w = new BinaryWriter()
  w.tag(1, WireType.LengthDelimited).bytes(client.bytes)
  w.tag(3, WireType.LengthDelimited).string(key)
  return w.finish()
}

async function resultCount(db: Database): Promise<number> {
  const rows = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM hole_punch_results')
  return Number(rows[0]!.n)
}

async function newestResultId(db: Database): Promise<number> {
  const rows = await db.query<{ id: string | number | null }>('SELECT max(id) AS id FROM hole_punch_results')
  return Number(rows[0]!.id ?? 0)
}

/**
 * The stored report `id` is whole: one attempt row per attempt sent, and one INITIAL address
 * per distinct relay address sent. A mutation may leave a report with no relay address (the
 * field is repeated, not required): it is stored with none, not refused.
 */
async function assertStoredAsSent(db: Database, id: number, sent: TrackHolePunchRequest): Promise<void> {
  const [row] = await db.query<{
    attempt_count: number
    attempts: string | number
    initial: string | number
  }>(
    `SELECT r.attempt_count,
       (SELECT count(*) FROM hole_punch_attempts a WHERE a.hole_punch_result_id = r.id) AS attempts,
       (SELECT count(*) FROM hole_punch_results_x_multi_addresses x
        WHERE x.hole_punch_result_id = r.id AND x.relationship = 'INITIAL') AS initial
     FROM hole_punch_results r WHERE r.id = $1`,
    [id],
  )
  const distinctRelayAddresses = new Set(sent.remoteMultiAddresses.map((b) => Buffer.from(b).toString('hex')))
  assert.deepEqual(
    { attemptCount: row!.attempt_count, attempts: Number(row!.attempts), initial: Number(row!.initial) },
    {
      attemptCount: sent.holePunchAttempts.length,
      attempts: sent.holePunchAttempts.length,
      initial: distinctRelayAddresses.size,
    },
    `report ${id} is not stored as sent`,
  )
}

/** One gRPC-looking HTTP/2 request; any answer or a reset stream is fine, a hang is not. */
function http2Request(port: number, path: string, contentType: string, body: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    const timer = setTimeout(() => {
      session.destroy()
      reject(new Error(`no answer to ${path} within 5 s`))
    }, 5_000)
    const done = () => {
      clearTimeout(timer)
      session.close()
      resolve()
    }
    session.on('error', done)
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': contentType,
      te: 'trailers',
    })
    req.on('response', () => undefined)
    req.on('error', done)
    req.on('close', done)
    req.resume()
    req.end(body)
  })
}

/** The grpc-status and grpc-message of one gRPC call with a raw body. */
async function grpcStatus(
  port: number,
  path: string,
  body: Uint8Array,
): Promise<{ code: string; message: string }> {
  return grpcStatusOf(await rawHttp2Request(port, path, body))
}

/** Raw bytes on the HTTP/2 port; the server must close or answer, never hang or crash. */
function rawTcp(port: number, garbage: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(garbage))
    socket.setTimeout(2_000, () => socket.destroy())
    socket.on('error', () => resolve())
    socket.on('close', () => resolve())
    socket.resume()
  })
}
