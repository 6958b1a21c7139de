// Reports shaped as the original Go and Rust punchr clients build them, each showing the known
// quirks of src/server/quirks.ts (docs/INTEROP.md, "Known quirks"). Times are relative to `t0`.
import { create } from '@bufbuild/protobuf'
import {
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'
import { RUST_CLOSED_WITHOUT_PUNCH } from '../../src/server/quirks.js'
import { maBytes, relayAddr, type TestPeer } from './fixtures.js'

const MS = 1_000_000n
const S = 1000n * MS

export const GO_AGENT = 'punchr/go-client/v0.9.0+lab'
export const RUST_AGENT = 'punchr/rust-client/0.1.0'

interface Parties {
  client: TestPeer
  remote: TestPeer
  relay: TestPeer
  apiKey: string
  t0: bigint
}

/**
 * The Go client's failed round: one attempt whose hole-punch events (started +2 s, ended
 * +2.5 s) were read only after it waited for the stream, so its opened_at (+5 s) comes after
 * them (go-attempt-opened-late); its error and direct_dial_error sent as "" (go-empty-attempt-errors);
 * then no second stream within 15 s: NO_STREAM despite the attempt (go-no-stream-after-attempts).
 */
export function goQuirkyReport({ client, remote, relay, apiKey, t0 }: Parties): TrackHolePunchRequest {
  const relayed = maBytes(relayAddr(relay, remote))
  return create(TrackHolePunchRequestSchema, {
    apiKey,
    clientId: client.bytes,
    remoteId: remote.bytes,
    remoteMultiAddresses: [relayed],
    listenMultiAddresses: [
      maBytes('/ip4/10.1.0.2/tcp/40001'),
      maBytes('/ip4/127.0.0.1/tcp/40001'),
      maBytes('/ip6/::1/tcp/40003'),
    ],
    connectStartedAt: t0,
    connectEndedAt: t0 + 100n * MS,
    holePunchAttempts: [
      create(HolePunchAttemptSchema, {
        openedAt: t0 + 5n * S,
        startedAt: t0 + 2n * S,
        endedAt: t0 + 2n * S + 500n * MS,
        startRtt: 0.012,
        elapsedTime: 0.5,
        outcome: HolePunchAttemptOutcome.FAILED,
        error: '',
        directDialError: '',
        multiAddresses: [maBytes('/ip4/11.0.0.7/tcp/4101')],
      }),
    ],
    openMultiAddresses: [relayed],
    hasDirectConns: false,
    outcome: HolePunchOutcome.NO_STREAM,
    error: '/libp2p/dcutr stream was not opened after 15s',
    endedAt: t0 + 20n * S,
    protocols: [4, 6],
  })
}

/**
 * The Rust client's success: elapsed_time of its attempt in microseconds (50 ms sent as 50 000:
 * rust-elapsed-microseconds), opened_at = the relayed connection's time (rust-opened-at-connect).
 */
export function rustQuirkySuccess({ client, remote, relay, apiKey, t0 }: Parties): TrackHolePunchRequest {
  const relayed = maBytes(relayAddr(relay, remote))
  const connected = t0 + 80n * MS
  const started = t0 + 1n * S
  const ended = started + 50n * MS
  return create(TrackHolePunchRequestSchema, {
    apiKey,
    clientId: client.bytes,
    remoteId: remote.bytes,
    remoteMultiAddresses: [relayed],
    listenMultiAddresses: [maBytes('/ip4/10.1.0.3/tcp/40002'), maBytes('/ip6/2001:db8:1::3/tcp/40002')],
    connectStartedAt: t0,
    connectEndedAt: connected,
    holePunchAttempts: [
      create(HolePunchAttemptSchema, {
        openedAt: connected,
        startedAt: started,
        endedAt: ended,
        // What `(ended_at - started_at) as f32 / 1000f32` gives: a float32 of microseconds.
        elapsedTime: Math.fround(Math.fround(Number(ended - started)) / 1000),
        outcome: HolePunchAttemptOutcome.SUCCESS,
        multiAddresses: [maBytes('/ip4/11.0.0.8/tcp/4101')],
      }),
    ],
    openMultiAddresses: [relayed, maBytes('/ip4/11.0.0.8/tcp/4101')],
    hasDirectConns: true,
    outcome: HolePunchOutcome.SUCCESS,
    endedAt: ended + 10n * MS,
  })
}

/** The Rust client's round with a remote that opened no stream: FAILED without an attempt (rust-no-stream-as-failed). */
export function rustNoStreamReport({ client, remote, relay, apiKey, t0 }: Parties): TrackHolePunchRequest {
  const relayed = maBytes(relayAddr(relay, remote))
  return create(TrackHolePunchRequestSchema, {
    apiKey,
    clientId: client.bytes,
    remoteId: remote.bytes,
    remoteMultiAddresses: [relayed],
    connectStartedAt: t0,
    connectEndedAt: t0 + 90n * MS,
    openMultiAddresses: [],
    hasDirectConns: false,
    outcome: HolePunchOutcome.FAILED,
    error: RUST_CLOSED_WITHOUT_PUNCH,
    endedAt: t0 + 120n * S,
  })
}
