import { create } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  HolePunchAttemptOutcome,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  NATMappingSchema,
  NetworkInformationSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
} from '../../src/gen/punchr_pb.js'

export interface TestPeer {
  id: string
  bytes: Uint8Array
}

/** A fresh Ed25519 libp2p identity. */
export async function newPeer(): Promise<TestPeer> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return { id: peerId.toString(), bytes: peerId.toMultihash().bytes }
}

export function maBytes(text: string): Uint8Array {
  return multiaddr(text).bytes
}

/** A relay address of `remote` through a relay at 11.0.0.<n>. */
export function relayAddr(relay: TestPeer, remote: TestPeer, n = 1): string {
  return `/ip4/11.0.0.${n}/tcp/4001/p2p/${relay.id}/p2p-circuit/p2p/${remote.id}`
}

const NS = 1_000_000_000n

/**
 * A complete, valid TrackHolePunchRequest like a Go client sends after a success on the
 * second attempt: every optional part present.
 */
export function fullReport(options: {
  client: TestPeer
  remote: TestPeer
  relay: TestPeer
  apiKey: string
  startNs?: bigint
}): TrackHolePunchRequest {
  const t0 = options.startNs ?? BigInt(Date.now() - 60_000) * 1_000_000n
  const relayed = maBytes(relayAddr(options.relay, options.remote))
  return create(TrackHolePunchRequestSchema, {
    clientId: options.client.bytes,
    remoteId: options.remote.bytes,
    remoteMultiAddresses: [relayed],
    connectStartedAt: t0,
    connectEndedAt: t0 + NS / 10n,
    holePunchAttempts: [
      create(HolePunchAttemptSchema, {
        openedAt: t0 + NS / 5n,
        startedAt: t0 + NS / 4n,
        endedAt: t0 + 5n * NS,
        startRtt: 0.05,
        elapsedTime: 4.75,
        outcome: HolePunchAttemptOutcome.FAILED,
        error: 'all dials failed',
        directDialError: 'dial tcp: i/o timeout',
        multiAddresses: [maBytes('/ip4/11.0.0.20/tcp/4001'), maBytes('/ip4/11.0.0.20/udp/4001/quic-v1')],
      }),
      create(HolePunchAttemptSchema, {
        openedAt: t0 + 6n * NS,
        startedAt: t0 + 6n * NS + NS / 10n,
        endedAt: t0 + 7n * NS,
        startRtt: 0.048,
        elapsedTime: 0.9,
        outcome: HolePunchAttemptOutcome.SUCCESS,
        multiAddresses: [maBytes('/ip4/11.0.0.20/tcp/4001')],
      }),
    ],
    openMultiAddresses: [relayed, maBytes('/ip4/11.0.0.20/tcp/4001')],
    hasDirectConns: true,
    outcome: HolePunchOutcome.SUCCESS,
    endedAt: t0 + 8n * NS,
    listenMultiAddresses: [maBytes('/ip4/192.168.1.10/tcp/4001'), maBytes('/ip4/11.0.0.30/tcp/4001')],
    apiKey: options.apiKey,
    protocols: [4, 6],
    latencyMeasurements: [
      create(LatencyMeasurementSchema, {
        remoteId: options.relay.bytes,
        agentVersion: 'go-libp2p/0.33.0',
        protocols: ['/libp2p/circuit/relay/0.2.0/hop'],
        multiAddress: maBytes('/ip4/11.0.0.1/tcp/4001'),
        rtts: [0.02, 0.021, 0.5],
        rttErrs: ['', '', 'context deadline exceeded'],
        mtype: LatencyMeasurementType.TO_RELAY,
      }),
      create(LatencyMeasurementSchema, {
        remoteId: options.remote.bytes,
        agentVersion: 'kubo/0.25.0',
        protocols: ['/libp2p/dcutr'],
        multiAddress: maBytes('/ip4/11.0.0.20/tcp/4001'),
        rtts: [0.01, 0.011],
        rttErrs: ['', ''],
        mtype: LatencyMeasurementType.TO_REMOTE_AFTER_HOLE_PUNCH,
      }),
    ],
    networkInformation: create(NetworkInformationSchema, {
      supportsIpv6: false,
      routerLoginHtmlError: 'no router found',
    }),
    natMappings: [
      create(NATMappingSchema, {
        internalPort: 4001,
        externalPort: 40001,
        protocol: 'tcp',
        addr: '11.0.0.30',
        addrNetwork: 'ip4',
      }),
    ],
  })
}
