import { MAX_ATTEMPTS_PER_ROUND } from '../client/tracer/index.js'
import type { LabOutcome } from './scenario.js'

/**
 * Ways a lab remote misbehaves (docs/LAB.md, "Misbehaving remotes"): the real network's DHT
 * peers are arbitrary, and the client must measure them without a round that never ends, a
 * report its server refuses, a false SUCCESS or a dial to someone else. Each has its ground
 * truth here; `punchr lab run` judges the stored rounds against it.
 */
export const REMOTE_BEHAVIOURS = [
  'silent-dcutr',
  'garbage-dcutr',
  'stream-flood',
  'never-sync',
  'nul-agent',
  'foreign-addrs',
  'dies-mid-punch',
  'slow-relay',
] as const
export type RemoteBehaviour = (typeof REMOTE_BEHAVIOURS)[number]

/** One-way delay the router of a `slow-relay` remote adds to its traffic with the relays. */
export const SLOW_RELAY_DELAY_MS = 1_000

export interface BehaviourTruth {
  /** What the remote does. */
  does: string
  /**
   * The outcomes a round with it may end with, the expected one first, each with why;
   * undefined = the NAT ground truth (the misbehaviour must not change the outcome).
   */
  outcomes?: readonly { outcome: LabOutcome; reason: string }[]
  /** Every stored attempt has one of these outcomes (undefined = any). */
  attemptOutcomes?: readonly string[]
  /** How many attempts a round with the remote stores (attempt-less outcomes excepted). */
  attempts?: { min: number; max: number }
  /** Something the first attempt must show, checked on its stored row; undefined = nothing. */
  firstAttempt?: { minStartRttSeconds: number; why: string }
}

export const BEHAVIOUR_TRUTH: Record<RemoteBehaviour, BehaviourTruth> = {
  'silent-dcutr': {
    does: 'opens /libp2p/dcutr and never sends CONNECT',
    outcomes: [{ outcome: 'FAILED', reason: 'the one attempt times out waiting for CONNECT' }],
    attemptOutcomes: ['TIMEOUT'],
    attempts: { min: 1, max: 1 },
  },
  'garbage-dcutr': {
    does: 'sends an invalid protobuf, an oversized frame and a CONNECT without a valid address, one stream each',
    outcomes: [{ outcome: 'FAILED', reason: 'each attempt breaks on what the remote sent' }],
    attemptOutcomes: ['PROTOCOL_ERROR'],
    attempts: { min: 3, max: 3 },
  },
  'stream-flood': {
    does: 'opens dcutr streams again and again, each a CONNECT and an end before SYNC',
    outcomes: [
      { outcome: 'FAILED', reason: 'every attempt breaks; the client answers at most its cap of streams' },
    ],
    attemptOutcomes: ['PROTOCOL_ERROR'],
    // The client answers at most MAX_ATTEMPTS_PER_ROUND streams a round and resets the rest.
    attempts: { min: 3, max: MAX_ATTEMPTS_PER_ROUND },
  },
  'never-sync': {
    does: 'sends CONNECT, reads ours, never sends SYNC',
    outcomes: [{ outcome: 'FAILED', reason: 'the one attempt times out waiting for SYNC' }],
    attemptOutcomes: ['TIMEOUT'],
    attempts: { min: 1, max: 1 },
  },
  'nul-agent': {
    does: 'has NUL characters and 10 kB of text in its agent version and protocol IDs',
    // Its DCUtR is stock: the punch goes as the NATs allow, and the report is stored.
  },
  'foreign-addrs': {
    does: "lists other lab nodes' and private, loopback, multicast and port-0 addresses in its CONNECT",
    // Its own public address is there too, so the punch goes as the NATs allow, to it alone.
  },
  'dies-mid-punch': {
    does: 'drops every connection after the CONNECT exchange and comes back a few seconds later',
    outcomes: [
      { outcome: 'FAILED', reason: 'the attempt breaks when the stream dies before SYNC' },
      { outcome: 'NO_CONNECTION', reason: 'the round began while the remote was down' },
    ],
    attemptOutcomes: ['PROTOCOL_ERROR'],
    attempts: { min: 1, max: 1 },
  },
  'slow-relay': {
    does: `its traffic with the relays is delayed by ${SLOW_RELAY_DELAY_MS} ms each way`,
    // The punch path is not delayed: DCUtR's RTT measurement is meant for exactly this.
    firstAttempt: {
      minStartRttSeconds: (2 * SLOW_RELAY_DELAY_MS) / 1000,
      why: 'CONNECT to SYNC spans a round trip through the delayed relay link',
    },
  },
}
