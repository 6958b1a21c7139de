import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  classifyMapping,
  endpointOf,
  type MappingObservation,
  MappingObservations,
} from '../../src/client/nat-behaviour.js'
import { NatBehaviourSchema, NatMappingBehaviour } from '../../src/gen/punchr_pb.js'
import { natBehavioursField, roundNatMapping } from '../../src/server/nat-behaviours.js'
import { ValidationError } from '../../src/server/validation-error.js'

const obs = (observer: string, observed: string): MappingObservation => {
  const [oip, oport] = observer.split(':')
  const [sip, sport] = observed.split(':')
  return { observer: { ip: oip!, port: Number(oport) }, observed: { ip: sip!, port: Number(sport) } }
}

describe('classifyMapping (RFC 5780 §4.3 from identify observations)', () => {
  it('one observer IP tells nothing, even with two ports', () => {
    const r = classifyMapping(
      [obs('11.0.0.2:4001', '11.0.0.6:5000'), obs('11.0.0.2:4002', '11.0.0.6:5000')],
      5000,
    )
    assert.equal(r.mapping, 'unknown')
    assert.equal(r.observerIps, 1)
    assert.equal(r.observations, 2)
    assert.equal(r.portPreserved, true)
  })

  it('the same address and port towards everybody is endpoint-independent', () => {
    const r = classifyMapping(
      [
        obs('11.0.0.2:4001', '11.0.0.6:5000'),
        obs('11.0.0.3:4001', '11.0.0.6:5000'),
        obs('11.0.0.3:4002', '11.0.0.6:5000'),
      ],
      5000,
    )
    assert.equal(r.mapping, 'endpoint-independent')
    assert.equal(r.portPreserved, true)
    assert.equal(r.observerIps, 2)
  })

  it('an endpoint-independent mapping that changes the port is not port-preserving', () => {
    const r = classifyMapping(
      [obs('11.0.0.2:4001', '11.0.0.6:6000'), obs('11.0.0.3:4001', '11.0.0.6:6000')],
      5000,
    )
    assert.equal(r.mapping, 'endpoint-independent')
    assert.equal(r.portPreserved, false)
  })

  it('a new port per destination port is address-and-port-dependent', () => {
    const r = classifyMapping(
      [
        obs('11.0.0.2:4001', '11.0.0.6:41000'),
        obs('11.0.0.2:4002', '11.0.0.6:52000'),
        obs('11.0.0.3:4001', '11.0.0.6:33000'),
      ],
      5000,
    )
    assert.equal(r.mapping, 'address-and-port-dependent')
    assert.equal(r.portPreserved, false)
  })

  it('one port per destination IP, whatever its port, is address-dependent', () => {
    const r = classifyMapping(
      [
        obs('11.0.0.2:4001', '11.0.0.6:41000'),
        obs('11.0.0.2:4002', '11.0.0.6:41000'),
        obs('11.0.0.3:4001', '11.0.0.6:33000'),
      ],
      5000,
    )
    assert.equal(r.mapping, 'address-dependent')
  })

  it('a change between IPs without two observers at one IP leaves the port part open', () => {
    const r = classifyMapping(
      [obs('11.0.0.2:4001', '11.0.0.6:41000'), obs('11.0.0.3:4001', '11.0.0.6:33000')],
      5000,
    )
    assert.equal(r.mapping, 'endpoint-dependent')
  })

  it('a different public IP per destination is not endpoint-independent (address pooling)', () => {
    const r = classifyMapping(
      [
        obs('11.0.0.2:4001', '11.0.0.6:5000'),
        obs('11.0.0.2:4002', '11.0.0.7:5000'),
        obs('11.0.0.3:4001', '11.0.0.6:5000'),
      ],
      5000,
    )
    assert.equal(r.mapping, 'address-and-port-dependent')
    assert.equal(r.portPreserved, true)
  })

  it('no local port or no observations: port preservation unknown', () => {
    assert.equal(classifyMapping([obs('11.0.0.2:4001', '11.0.0.6:5000')], undefined).portPreserved, undefined)
    const none = classifyMapping([], 5000)
    assert.equal(none.mapping, 'unknown')
    assert.equal(none.portPreserved, undefined)
  })
})

describe('MappingObservations', () => {
  const relay = peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq')
  const remote = peerIdFromString('12D3KooWLrKQzJmxuuDwGQvZhCTL3KVzZT9JsqtoX4BzLMXcbFAv')
  let next = 0
  const conn = (remoteAddr: string, peer = relay, direction: 'inbound' | 'outbound' = 'outbound') => ({
    id: `c${next++}`,
    direction,
    remoteAddr: multiaddr(remoteAddr),
    remotePeer: peer,
  })
  const trusted = new Set([relay.toString()])
  const tcpPort = () => 5000

  it('classifies per path from trusted outbound direct connections only', () => {
    const m = new MappingObservations(trusted)
    m.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn('/ip4/11.0.0.2/tcp/4001'))
    m.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn('/ip4/11.0.0.3/tcp/4001'))
    // A remote's lie, an inbound connection's view and a relayed connection's are not counted.
    m.observe(multiaddr('/ip4/11.0.0.6/tcp/9999'), conn('/ip4/11.0.0.9/tcp/4001', remote))
    m.observe(multiaddr('/ip4/11.0.0.6/tcp/9998'), conn('/ip4/11.0.0.4/tcp/4001', relay, 'inbound'))
    m.observe(multiaddr('/ip4/11.0.0.6/tcp/9997'), conn(`/ip4/11.0.0.5/tcp/4001/p2p/${relay}/p2p-circuit`))
    // An observation of another path than its connection's is broken, not a behaviour.
    m.observe(multiaddr('/ip4/11.0.0.6/udp/9996/quic-v1'), conn('/ip4/11.0.0.5/tcp/4001'))
    const [tcp, quic] = m.classify(['ip4/tcp', 'ip4/quic'], tcpPort)
    assert.deepEqual(tcp, {
      path: 'ip4/tcp',
      mapping: 'endpoint-independent',
      portPreserved: true,
      observations: 2,
      observerIps: 2,
    })
    assert.equal(quic!.mapping, 'unknown')
    assert.equal(quic!.observations, 0)
  })

  it('forgets a closed connection, and keeps the newest observation per connection', () => {
    const m = new MappingObservations(trusted)
    const a = conn('/ip4/11.0.0.2/udp/4001/quic-v1')
    const b = conn('/ip4/11.0.0.3/udp/4001/quic-v1')
    m.observe(multiaddr('/ip4/11.0.0.6/udp/7000/quic-v1'), a)
    m.observe(multiaddr('/ip4/11.0.0.6/udp/7001/quic-v1'), b)
    assert.equal(m.classify(['ip4/quic'], () => 7000)[0]!.mapping, 'endpoint-dependent')
    m.observe(multiaddr('/ip4/11.0.0.6/udp/7000/quic-v1'), b)
    assert.equal(m.classify(['ip4/quic'], () => 7000)[0]!.mapping, 'endpoint-independent')
    m.forget(b.id)
    assert.equal(m.classify(['ip4/quic'], () => 7000)[0]!.mapping, 'unknown')
  })

  it('keeps a bounded number of connections, the trusted ones longest', () => {
    const m = new MappingObservations(trusted, 3)
    for (let i = 0; i < 10; i++)
      m.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn(`/ip4/11.0.1.${i}/tcp/4001`))
    assert.equal(m.classify(['ip4/tcp'], tcpPort)[0]!.observations, 3)
    // Two trusted observers, then the relays of many rounds: the observers stay.
    const kept = new MappingObservations(trusted, 3)
    kept.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn('/ip4/11.0.0.2/tcp/4001'))
    kept.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn('/ip4/11.0.0.3/tcp/4001'))
    for (let i = 0; i < 100; i++)
      kept.observe(multiaddr('/ip4/11.0.0.6/tcp/5000'), conn(`/ip4/11.0.2.${i}/tcp/4001`, remote))
    const [tcp] = kept.classify(['ip4/tcp'], tcpPort)
    assert.equal(tcp!.mapping, 'endpoint-independent')
    assert.equal(tcp!.observations, 2)
  })

  it('endpointOf reads TCP and QUIC v1 endpoints and nothing else', () => {
    assert.deepEqual(endpointOf(multiaddr('/ip6/2600::1/udp/4001/quic-v1')), {
      path: 'ip6/quic',
      endpoint: { ip: '2600::1', port: 4001 },
    })
    assert.equal(endpointOf(multiaddr('/ip4/1.2.3.4/udp/4001')), undefined)
    assert.equal(endpointOf(multiaddr('/dns4/example.com/tcp/4001')), undefined)
  })
})

describe('the nat_behaviours extension on the server', () => {
  const entry = (
    init: Partial<{
      transport: string
      ipVersion: number
      mapping: NatMappingBehaviour
      observations: number
      observerIps: number
      portPreserved: boolean
    }>,
  ) =>
    create(NatBehaviourSchema, {
      transport: 'tcp',
      ipVersion: 4,
      mapping: NatMappingBehaviour.ENDPOINT_INDEPENDENT,
      observations: 4,
      observerIps: 2,
      ...init,
    })

  it('stores mapping names as the client classifies them, with port preservation only when sent', () => {
    const [tcp, quic] = natBehavioursField([
      entry({ portPreserved: false }),
      entry({ transport: 'quic', mapping: NatMappingBehaviour.ADDRESS_AND_PORT_DEPENDENT }),
    ])
    assert.equal(tcp!.mapping, 'endpoint-independent')
    assert.equal(tcp!.portPreserved, false)
    assert.equal(quic!.mapping, 'address-and-port-dependent')
    assert.equal(quic!.portPreserved, null)
  })

  it('refuses what our client never sends, naming the field', () => {
    const refused = (list: ReturnType<typeof entry>[], field: RegExp) =>
      assert.throws(
        () => natBehavioursField(list),
        (err: unknown) => err instanceof ValidationError && field.test(err.message),
      )
    refused([entry({ transport: 'udp' })], /nat_behaviours\[0\]\.transport/)
    refused([entry({ ipVersion: 5 })], /nat_behaviours\[0\]\.ip_version/)
    refused([entry({}), entry({})], /second entry/)
    refused([entry({ mapping: 9 as NatMappingBehaviour })], /unknown enum value 9/)
    refused([entry({ observerIps: 1 })], /two or more/)
    refused([entry({ observations: 1, observerIps: 2 })], /observer IPs but only/)
    refused([entry({ observations: 70000 })], /observations/)
    refused(
      ['tcp', 'quic']
        .flatMap((t) => [4, 6].flatMap((v) => [entry({ transport: t, ipVersion: v })]))
        .concat(entry({})),
      /too many entries/,
    )
  })

  it("picks the mapping of the round's path", () => {
    const behaviours = natBehavioursField([
      entry({}),
      entry({ transport: 'quic', mapping: NatMappingBehaviour.ADDRESS_AND_PORT_DEPENDENT }),
    ])
    assert.equal(roundNatMapping(behaviours, [4, 6]), 'endpoint-independent')
    assert.equal(roundNatMapping(behaviours, [4, 461]), 'address-and-port-dependent')
    assert.equal(roundNatMapping(behaviours, []), 'mixed', 'an open filter whose paths disagree')
    assert.equal(roundNatMapping(behaviours, [41, 6]), 'unknown', 'no entry for the path')
    assert.equal(roundNatMapping(behaviours.slice(0, 1), []), 'endpoint-independent')
    assert.equal(roundNatMapping([], [4, 6]), null)
  })
})
