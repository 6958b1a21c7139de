import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type DescEnum, type DescMessage, fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf'
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  GetAddrInfoRequestSchema,
  GetAddrInfoResponseSchema,
  HolePunchAttemptOutcome,
  HolePunchAttemptOutcomeSchema,
  HolePunchAttemptSchema,
  HolePunchOutcome,
  HolePunchOutcomeSchema,
  LatencyMeasurementSchema,
  LatencyMeasurementType,
  LatencyMeasurementTypeSchema,
  NATMappingSchema,
  NatBehaviourSchema,
  NatMappingBehaviourSchema,
  NetworkInformationSchema,
  PunchrService,
  RegisterRequestSchema,
  RegisterResponseSchema,
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
  TrackHolePunchResponseSchema,
} from '../../src/gen/punchr_pb.js'

/**
 * Golden bytes: test/fixtures/track-hole-punch-request.bin was encoded by Debian's protoc
 * (the C++ reference implementation) from track-hole-punch-request.txtpb. Our generated
 * code must decode it to exactly the values below (written out here, independently of the
 * .txtpb) and encode them back to the same bytes. Plus the wire contract's field and enum
 * numbers, checked against the table of docs/PROTOCOL.md, "Wire API".
 */

// dist/test/wire/golden.test.js → the repository root.
const root = fileURLToPath(new URL('../../../', import.meta.url))
const fixture = (name: string) => `${root}test/fixtures/${name}`
const PROTO = `${root}proto/punchr.proto`
const BIN = fixture('track-hole-punch-request.bin')
const TXTPB = fixture('track-hole-punch-request.txtpb')

// ── expected values of the fixture ─────────────────────────────────────────────────────────

const CLIENT = '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5'
const RELAY = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const REMOTE = 'QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN'
const RELAYED_TCP = `/ip4/147.75.80.110/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE}`
const RELAYED_QUIC = `/ip4/147.75.80.110/udp/4001/quic-v1/p2p/${RELAY}/p2p-circuit/p2p/${REMOTE}`
const REMOTE_TCP = '/ip4/203.0.113.7/tcp/4001'
const REMOTE_QUIC = '/ip4/203.0.113.7/udp/4001/quic-v1'
const REMOTE_QUIC6 = '/ip6/2001:db8::7/udp/4001/quic-v1'

const expected = {
  clientId: CLIENT,
  remoteId: REMOTE,
  remoteMultiAddresses: [RELAYED_TCP, RELAYED_QUIC],
  connectStartedAt: 1_718_000_000_123_456_789n,
  connectEndedAt: 1_718_000_000_456_789_012n,
  holePunchAttempts: [
    {
      openedAt: 1_718_000_000_500_000_001n,
      startedAt: 1_718_000_000_550_000_002n,
      endedAt: 1_718_000_005_550_000_003n,
      startRtt: 0.05,
      elapsedTime: 5.05,
      outcome: HolePunchAttemptOutcome.FAILED,
      error: 'all dials failed',
      directDialError: 'dial tcp4 203.0.113.7:4001: i/o timeout',
      multiAddresses: [REMOTE_TCP, REMOTE_QUIC],
    },
    {
      openedAt: 1_718_000_006_000_000_004n,
      startedAt: 1_718_000_006_049_000_005n,
      endedAt: 1_718_000_006_900_000_006n,
      startRtt: 0.049,
      elapsedTime: 0.9,
      outcome: HolePunchAttemptOutcome.SUCCESS,
      error: '',
      directDialError: '',
      multiAddresses: [REMOTE_TCP, REMOTE_QUIC6],
    },
  ],
  openMultiAddresses: [RELAYED_TCP, REMOTE_TCP],
  hasDirectConns: true,
  error: 'attempt 1: all dials failed (Zürich → 東京)',
  outcome: HolePunchOutcome.SUCCESS,
  endedAt: 1_718_000_007_000_000_007n,
  listenMultiAddresses: [
    '/ip4/192.168.1.10/tcp/4001',
    '/ip6/2001:db8:1::10/tcp/4001',
    '/ip4/198.51.100.20/udp/54321/quic-v1',
  ],
  apiKey: 'pk_golden_0123456789abcdef',
  protocols: [41, 461],
  latencyMeasurements: [
    {
      remoteId: RELAY,
      agentVersion: 'go-libp2p/0.35.0',
      protocols: ['/libp2p/circuit/relay/0.2.0/hop', '/ipfs/ping/1.0.0'],
      multiAddress: '/ip4/147.75.80.110/tcp/4001',
      rtts: [0.021, 0.0205, 0],
      rttErrs: ['', '', 'context deadline exceeded'],
      mtype: LatencyMeasurementType.TO_RELAY,
    },
    {
      remoteId: REMOTE,
      agentVersion: 'kubo/0.29.0/3f0947b',
      protocols: ['/libp2p/dcutr', '/ipfs/ping/1.0.0'],
      multiAddress: RELAYED_TCP,
      rtts: [0.25, 0.2625],
      rttErrs: ['', ''],
      mtype: LatencyMeasurementType.TO_REMOTE_THROUGH_RELAY,
    },
    {
      remoteId: REMOTE,
      agentVersion: 'kubo/0.29.0/3f0947b',
      protocols: ['/libp2p/dcutr', '/ipfs/ping/1.0.0'],
      multiAddress: REMOTE_TCP,
      rtts: [0.1, 0.125],
      rttErrs: ['', ''],
      mtype: LatencyMeasurementType.TO_REMOTE_AFTER_HOLE_PUNCH,
    },
  ],
  networkInformation: {
    routerLoginHtml: '<html>\n<title>FRITZ!Box</title>\n<form action="/login"></form>\n</html>',
    routerLoginHtmlError: 'GET http://192.168.1.1/: 401 Unauthorized',
    supportsIpv6: true,
    supportsIpv6Error: '',
  },
  natMappings: [
    { internalPort: 4001, externalPort: 40001, protocol: 'tcp', addr: '198.51.100.20', addrNetwork: 'ip4' },
    { internalPort: 4001, externalPort: 54321, protocol: 'udp', addr: '198.51.100.20', addrNetwork: 'ip4' },
  ],
}

/** Floats travel as 32-bit IEEE 754; the decoded double is the nearest float32 to the literal. */
function assertFloat(actual: number, want: number, what: string): void {
  assert.ok(Math.abs(actual - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${what}: ${actual} ≠ ${want}`)
  assert.equal(actual, Math.fround(want), `${what}: not the float32 nearest to ${want}`)
}

function assertPeerId(bytes: Uint8Array, want: string, what: string): void {
  assert.deepEqual(bytes, peerIdFromString(want).toMultihash().bytes, what)
}

function assertMultiaddrs(list: readonly Uint8Array[], want: readonly string[], what: string): void {
  assert.deepEqual(
    list.map((b) => multiaddr(b).toString()),
    want,
    what,
  )
  // Byte equality too: the string round trip could hide a non-canonical encoding.
  assert.deepEqual(
    list.map((b) => Buffer.from(b).toString('hex')),
    want.map((s) => Buffer.from(multiaddr(s).bytes).toString('hex')),
    what,
  )
}

/** Every field of the decoded fixture against `expected`, presence of optional fields included. */
function assertExpected(m: TrackHolePunchRequest): void {
  const F = TrackHolePunchRequestSchema.field
  for (const field of TrackHolePunchRequestSchema.fields) {
    if (field.fieldKind !== 'list') assert.ok(isFieldSet(m, field), `${field.name} is set`)
  }
  assertPeerId(m.clientId, expected.clientId, 'client_id')
  assertPeerId(m.remoteId, expected.remoteId, 'remote_id')
  assertMultiaddrs(m.remoteMultiAddresses, expected.remoteMultiAddresses, 'remote_multi_addresses')
  assert.equal(m.connectStartedAt, expected.connectStartedAt)
  assert.equal(m.connectEndedAt, expected.connectEndedAt)
  assert.equal(m.holePunchAttempts.length, expected.holePunchAttempts.length)
  for (const [i, want] of expected.holePunchAttempts.entries()) {
    const a = m.holePunchAttempts[i]!
    const what = `hole_punch_attempts[${i}]`
    for (const field of HolePunchAttemptSchema.fields) {
      if (field.fieldKind !== 'list') assert.ok(isFieldSet(a, field), `${what}.${field.name} is set`)
    }
    assert.equal(a.openedAt, want.openedAt, `${what}.opened_at`)
    assert.equal(a.startedAt, want.startedAt, `${what}.started_at`)
    assert.equal(a.endedAt, want.endedAt, `${what}.ended_at`)
    assertFloat(a.startRtt, want.startRtt, `${what}.start_rtt`)
    assertFloat(a.elapsedTime, want.elapsedTime, `${what}.elapsed_time`)
    assert.equal(a.outcome, want.outcome, `${what}.outcome`)
    assert.equal(a.error, want.error, `${what}.error`)
    assert.equal(a.directDialError, want.directDialError, `${what}.direct_dial_error`)
    assertMultiaddrs(a.multiAddresses, want.multiAddresses, `${what}.multi_addresses`)
  }
  assertMultiaddrs(m.openMultiAddresses, expected.openMultiAddresses, 'open_multi_addresses')
  assert.equal(m.hasDirectConns, expected.hasDirectConns)
  assert.equal(m.error, expected.error)
  assert.ok(isFieldSet(m, F.error))
  assert.equal(m.outcome, expected.outcome)
  assert.equal(m.endedAt, expected.endedAt)
  assertMultiaddrs(m.listenMultiAddresses, expected.listenMultiAddresses, 'listen_multi_addresses')
  assert.equal(m.apiKey, expected.apiKey)
  assert.deepEqual(m.protocols, expected.protocols)
  assert.equal(m.latencyMeasurements.length, expected.latencyMeasurements.length)
  for (const [i, want] of expected.latencyMeasurements.entries()) {
    const l = m.latencyMeasurements[i]!
    const what = `latency_measurements[${i}]`
    assertPeerId(l.remoteId, want.remoteId, `${what}.remote_id`)
    assert.equal(l.agentVersion, want.agentVersion, `${what}.agent_version`)
    assert.deepEqual(l.protocols, want.protocols, `${what}.protocols`)
    assertMultiaddrs([l.multiAddress], [want.multiAddress], `${what}.multi_address`)
    assert.equal(l.rtts.length, want.rtts.length, `${what}.rtts`)
    for (const [j, rtt] of want.rtts.entries()) assertFloat(l.rtts[j]!, rtt, `${what}.rtts[${j}]`)
    assert.deepEqual(l.rttErrs, want.rttErrs, `${what}.rtt_errs`)
    assert.equal(l.mtype, want.mtype, `${what}.mtype`)
    assert.ok(isFieldSet(l, LatencyMeasurementSchema.field.mtype), `${what}.mtype is set (it is 0)`)
  }
  const ni = m.networkInformation
  assert.ok(ni !== undefined, 'network_information is set')
  for (const field of NetworkInformationSchema.fields)
    assert.ok(isFieldSet(ni, field), `network_information.${field.name} is set`)
  assert.deepEqual(
    {
      routerLoginHtml: ni.routerLoginHtml,
      routerLoginHtmlError: ni.routerLoginHtmlError,
      supportsIpv6: ni.supportsIpv6,
      supportsIpv6Error: ni.supportsIpv6Error,
    },
    expected.networkInformation,
  )
  assert.deepEqual(
    m.natMappings.map((n) => ({
      internalPort: n.internalPort,
      externalPort: n.externalPort,
      protocol: n.protocol,
      addr: n.addr,
      addrNetwork: n.addrNetwork,
    })),
    expected.natMappings,
  )
}

describe('golden bytes: TrackHolePunchRequest encoded by protoc', () => {
  const bin = new Uint8Array(readFileSync(BIN))

  it('decodes with our generated code to every expected value', () => {
    assertExpected(fromBinary(TrackHolePunchRequestSchema, bin))
  })

  it("re-encodes with our generated code to protoc's bytes exactly", () => {
    // Both write fields in field-number order, proto2 repeated scalars unpacked, and keep
    // presence of optional fields set to their default ("" in attempt 2), so the bytes agree.
    const reencoded = toBinary(TrackHolePunchRequestSchema, fromBinary(TrackHolePunchRequestSchema, bin))
    assert.equal(Buffer.from(reencoded).toString('hex'), Buffer.from(bin).toString('hex'))
  })

  it('the committed .bin is what protoc makes from the .txtpb today', () => {
    let fresh: Buffer
    try {
      fresh = execFileSync('protoc', ['--encode=TrackHolePunchRequest', `--proto_path=${root}proto`, PROTO], {
        input: readFileSync(TXTPB),
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        assert.fail('protoc is not on PATH: install protobuf-compiler (apt-get install protobuf-compiler)')
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? ''
      assert.fail(`protoc --encode failed: ${stderr || String(err)}`)
    }
    assert.equal(
      fresh.toString('hex'),
      Buffer.from(bin).toString('hex'),
      'test/fixtures/track-hole-punch-request.bin is stale: regenerate it (see test/fixtures/README.md)',
    )
  })
})

// ── the wire contract: docs/PROTOCOL.md, "Wire API" ─────────────────────────────────────────────────────────────

type Label = 'req' | 'opt' | 'rep'
/** [number, name, label, type] per field; types are proto scalar names or message/enum names. */
type FieldRow = readonly [number, string, Label, string]

const CONTRACT_MESSAGES: Record<string, readonly FieldRow[]> = {
  RegisterRequest: [
    [1, 'client_id', 'req', 'bytes'],
    [2, 'agent_version', 'req', 'string'],
    [3, 'protocols', 'rep', 'string'],
    [4, 'api_key', 'req', 'string'],
  ],
  RegisterResponse: [[1, 'db_peer_id', 'req', 'int64']],
  GetAddrInfoRequest: [
    [1, 'host_id', 'req', 'bytes'],
    [2, 'all_host_ids', 'rep', 'bytes'],
    [3, 'api_key', 'req', 'string'],
  ],
  GetAddrInfoResponse: [
    [1, 'remote_id', 'req', 'bytes'],
    [2, 'multi_addresses', 'rep', 'bytes'],
    [3, 'protocols', 'rep', 'int32'],
  ],
  TrackHolePunchRequest: [
    [1, 'client_id', 'req', 'bytes'],
    [2, 'remote_id', 'req', 'bytes'],
    [3, 'remote_multi_addresses', 'rep', 'bytes'],
    [4, 'connect_started_at', 'req', 'uint64'],
    [5, 'connect_ended_at', 'req', 'uint64'],
    [6, 'hole_punch_attempts', 'rep', 'HolePunchAttempt'],
    [7, 'open_multi_addresses', 'rep', 'bytes'],
    [8, 'has_direct_conns', 'req', 'bool'],
    [9, 'error', 'opt', 'string'],
    [10, 'outcome', 'req', 'HolePunchOutcome'],
    [11, 'ended_at', 'req', 'uint64'],
    [12, 'listen_multi_addresses', 'rep', 'bytes'],
    [13, 'api_key', 'req', 'string'],
    [14, 'protocols', 'rep', 'int32'],
    [15, 'latency_measurements', 'rep', 'LatencyMeasurement'],
    [16, 'network_information', 'opt', 'NetworkInformation'],
    [17, 'nat_mappings', 'rep', 'NATMapping'],
    // Our extension (docs/PROTOCOL.md, "Extensions"): the original server skips it.
    [100, 'nat_behaviours', 'rep', 'NatBehaviour'],
  ],
  TrackHolePunchResponse: [],
  HolePunchAttempt: [
    [1, 'opened_at', 'req', 'uint64'],
    [2, 'started_at', 'opt', 'uint64'],
    [3, 'ended_at', 'req', 'uint64'],
    [4, 'start_rtt', 'opt', 'float'],
    [5, 'elapsed_time', 'req', 'float'],
    [6, 'outcome', 'req', 'HolePunchAttemptOutcome'],
    [7, 'error', 'opt', 'string'],
    [8, 'direct_dial_error', 'opt', 'string'],
    [9, 'multi_addresses', 'rep', 'bytes'],
  ],
  LatencyMeasurement: [
    [1, 'remote_id', 'req', 'bytes'],
    [2, 'agent_version', 'req', 'string'],
    [3, 'protocols', 'rep', 'string'],
    [4, 'multi_address', 'req', 'bytes'],
    [5, 'rtts', 'rep', 'float'],
    [6, 'rtt_errs', 'rep', 'string'],
    [7, 'mtype', 'req', 'LatencyMeasurementType'],
  ],
  NetworkInformation: [
    [1, 'router_login_html', 'opt', 'string'],
    [2, 'router_login_html_error', 'opt', 'string'],
    [3, 'supports_ipv6', 'opt', 'bool'],
    [4, 'supports_ipv6_error', 'opt', 'string'],
  ],
  NATMapping: [
    [1, 'internal_port', 'req', 'int32'],
    [2, 'external_port', 'req', 'int32'],
    [3, 'protocol', 'req', 'string'],
    [4, 'addr', 'req', 'string'],
    [5, 'addr_network', 'req', 'string'],
  ],
  NatBehaviour: [
    [1, 'transport', 'req', 'string'],
    [2, 'ip_version', 'req', 'int32'],
    [3, 'mapping', 'req', 'NatMappingBehaviour'],
    [4, 'port_preserved', 'opt', 'bool'],
    [5, 'observations', 'req', 'int32'],
    [6, 'observer_ips', 'req', 'int32'],
  ],
}

const CONTRACT_ENUMS: Record<string, Record<string, number>> = {
  HolePunchOutcome: {
    HOLE_PUNCH_OUTCOME_UNKNOWN: 0,
    HOLE_PUNCH_OUTCOME_NO_CONNECTION: 1,
    HOLE_PUNCH_OUTCOME_NO_STREAM: 2,
    HOLE_PUNCH_OUTCOME_CONNECTION_REVERSED: 3,
    HOLE_PUNCH_OUTCOME_CANCELLED: 4,
    HOLE_PUNCH_OUTCOME_FAILED: 5,
    HOLE_PUNCH_OUTCOME_SUCCESS: 6,
  },
  HolePunchAttemptOutcome: {
    HOLE_PUNCH_ATTEMPT_OUTCOME_UNKNOWN: 0,
    HOLE_PUNCH_ATTEMPT_OUTCOME_DIRECT_DIAL: 1,
    HOLE_PUNCH_ATTEMPT_OUTCOME_PROTOCOL_ERROR: 2,
    HOLE_PUNCH_ATTEMPT_OUTCOME_CANCELLED: 3,
    HOLE_PUNCH_ATTEMPT_OUTCOME_TIMEOUT: 4,
    HOLE_PUNCH_ATTEMPT_OUTCOME_FAILED: 5,
    HOLE_PUNCH_ATTEMPT_OUTCOME_SUCCESS: 6,
  },
  LatencyMeasurementType: {
    TO_RELAY: 0,
    TO_REMOTE_THROUGH_RELAY: 1,
    TO_REMOTE_AFTER_HOLE_PUNCH: 2,
  },
  NatMappingBehaviour: {
    NAT_MAPPING_BEHAVIOUR_UNKNOWN: 0,
    NAT_MAPPING_BEHAVIOUR_ENDPOINT_INDEPENDENT: 1,
    NAT_MAPPING_BEHAVIOUR_ADDRESS_DEPENDENT: 2,
    NAT_MAPPING_BEHAVIOUR_ADDRESS_AND_PORT_DEPENDENT: 3,
    NAT_MAPPING_BEHAVIOUR_ENDPOINT_DEPENDENT: 4,
  },
}

const CONTRACT_METHODS = [
  ['Register', 'RegisterRequest', 'RegisterResponse'],
  ['GetAddrInfo', 'GetAddrInfoRequest', 'GetAddrInfoResponse'],
  ['TrackHolePunch', 'TrackHolePunchRequest', 'TrackHolePunchResponse'],
] as const

// protobufjs, exactly the copy @grpc/proto-loader uses (it is not a dependency of ours).
interface PbField {
  id: number
  name: string
  rule?: string
  type: string
}
interface PbRoot {
  resolveAll(): PbRoot
  nestedArray: { name: string }[]
  lookupType(name: string): { fieldsArray: PbField[] }
  lookupEnum(name: string): { values: Record<string, number> }
  lookupService(name: string): {
    fullName: string
    methodsArray: { name: string; requestType: string; responseType: string }[]
  }
}
interface Protobufjs {
  Root: new () => { loadSync(path: string, options: { keepCase: boolean }): PbRoot }
}
const requireFromProtoLoader = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'))
const protobufjs = requireFromProtoLoader('protobufjs') as Protobufjs

const byNumber = (rows: readonly FieldRow[]) => [...rows].sort((a, b) => a[0] - b[0])

describe('golden contract: proto/punchr.proto against the table of docs/PROTOCOL.md, "Wire API"', () => {
  it('protobufjs parses exactly the messages, fields (number, name, label, type) and service of docs/PROTOCOL.md, "Wire API"', () => {
    const parsed = new protobufjs.Root().loadSync(PROTO, { keepCase: true }).resolveAll()
    // No package: everything, the service included, is top level.
    assert.deepEqual(
      parsed.nestedArray.map((n) => n.name).sort(),
      [...Object.keys(CONTRACT_MESSAGES), ...Object.keys(CONTRACT_ENUMS), 'PunchrService'].sort(),
    )
    for (const [message, rows] of Object.entries(CONTRACT_MESSAGES)) {
      const fields: FieldRow[] = parsed.lookupType(message).fieldsArray.map((f) => {
        const label: Label = f.rule === 'required' ? 'req' : f.rule === 'repeated' ? 'rep' : 'opt'
        return [f.id, f.name, label, f.type]
      })
      assert.deepEqual(byNumber(fields), byNumber(rows), message)
    }
    for (const [name, values] of Object.entries(CONTRACT_ENUMS))
      assert.deepEqual(parsed.lookupEnum(name).values, values, name)
    const service = parsed.lookupService('PunchrService')
    assert.equal(service.fullName, '.PunchrService')
    assert.deepEqual(
      service.methodsArray.map((m) => [m.name, m.requestType, m.responseType]),
      CONTRACT_METHODS.map((m) => [...m]),
    )
  })

  it('our generated code has the same fields, labels and enum numbers', () => {
    const schemas: Record<string, DescMessage> = {
      RegisterRequest: RegisterRequestSchema,
      RegisterResponse: RegisterResponseSchema,
      GetAddrInfoRequest: GetAddrInfoRequestSchema,
      GetAddrInfoResponse: GetAddrInfoResponseSchema,
      TrackHolePunchRequest: TrackHolePunchRequestSchema,
      TrackHolePunchResponse: TrackHolePunchResponseSchema,
      HolePunchAttempt: HolePunchAttemptSchema,
      LatencyMeasurement: LatencyMeasurementSchema,
      NetworkInformation: NetworkInformationSchema,
      NATMapping: NATMappingSchema,
      NatBehaviour: NatBehaviourSchema,
    }
    assert.deepEqual(Object.keys(schemas).sort(), Object.keys(CONTRACT_MESSAGES).sort())
    for (const [message, rows] of Object.entries(CONTRACT_MESSAGES)) {
      const schema = schemas[message]!
      assert.equal(schema.typeName, message, 'no package prefix')
      const fields: FieldRow[] = schema.fields.map((f) => {
        const label: Label =
          f.fieldKind === 'list'
            ? 'rep'
            : f.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED
              ? 'req'
              : 'opt'
        const kind = f.fieldKind === 'list' ? f.listKind : f.fieldKind
        const type =
          kind === 'message'
            ? f.message!.typeName
            : kind === 'enum'
              ? f.enum!.typeName
              : ScalarName[f.scalar as number]!
        return [f.number, f.name, label, type]
      })
      assert.deepEqual(byNumber(fields), byNumber(rows), message)
      // proto2: repeated scalars are not packed (Go's encoder writes them unpacked too).
      for (const f of schema.fields)
        if (f.fieldKind === 'list' && f.listKind === 'scalar') assert.equal(f.packed, false, f.name)
    }
    const enums: Record<string, DescEnum> = {
      HolePunchOutcome: HolePunchOutcomeSchema,
      HolePunchAttemptOutcome: HolePunchAttemptOutcomeSchema,
      LatencyMeasurementType: LatencyMeasurementTypeSchema,
      NatMappingBehaviour: NatMappingBehaviourSchema,
    }
    for (const [name, values] of Object.entries(CONTRACT_ENUMS))
      assert.deepEqual(Object.fromEntries(enums[name]!.values.map((v) => [v.name, v.number])), values, name)
    assert.equal(PunchrService.typeName, 'PunchrService')
    assert.deepEqual(
      PunchrService.methods.map((m) => [m.name, m.input.typeName, m.output.typeName, m.methodKind]),
      CONTRACT_METHODS.map((m) => [...m, 'unary']),
    )
  })
})

/** protobuf-es ScalarType numbers → proto type names (descriptor.proto's FieldDescriptorProto.Type). */
const ScalarName: Record<number, string> = {
  1: 'double',
  2: 'float',
  3: 'int64',
  4: 'uint64',
  5: 'int32',
  6: 'fixed64',
  7: 'fixed32',
  8: 'bool',
  9: 'string',
  12: 'bytes',
  13: 'uint32',
  15: 'sfixed32',
  16: 'sfixed64',
  17: 'sint32',
  18: 'sint64',
}
