// The client's small parts: error classification, a backoff wait cut short, the punch-address
// filter, the key files, the server address, the paths.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Connection } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { serverUrl } from '../../src/client/api-client.js'
import { classifyApiError } from '../../src/client/api-errors.js'
import { CuttableWait, sleep } from '../../src/client/backoff.js'
import { clientFlags } from '../../src/client/config.js'
import { clientAgentVersion } from '../../src/client/constants.js'
import { ApiError, Code } from '../../src/client/grpc-call.js'
import { listenAddrs, roleFor } from '../../src/client/host.js'
import { loadHostKeys, readApiKeyFile } from '../../src/client/key-file.js'
import { defaultApiKeyFile, defaultKeyFile, defaultQueueDir } from '../../src/client/paths.js'
import { isDialableWith, isTcpDialable, PunchAddrFilter } from '../../src/client/punch-addrs.js'
import { openDirect } from '../../src/client/round.js'
import { ConfigError } from '../../src/lib/errors.js'
import { parseFlags } from '../../src/lib/flags.js'
import {
  announcedIpVersions,
  announcedTransports,
  clientCapabilities,
  clientImplementation,
} from '../../src/server/client-capabilities.js'

describe('API error classification', () => {
  const cases: [string, unknown, string][] = [
    ['UNAVAILABLE', new ApiError('down', Code.Unavailable), 'transient'],
    ['DEADLINE_EXCEEDED', new ApiError('slow', Code.DeadlineExceeded), 'transient'],
    ['RESOURCE_EXHAUSTED', new ApiError('busy', Code.ResourceExhausted), 'transient'],
    ['ABORTED (connection reset)', new ApiError('reset', Code.Aborted), 'transient'],
    ['INVALID_ARGUMENT', new ApiError('bad', Code.InvalidArgument), 'permanent'],
    ['PERMISSION_DENIED', new ApiError('no', Code.PermissionDenied), 'permanent'],
    ['UNAUTHENTICATED', new ApiError('who', Code.Unauthenticated), 'permanent'],
    ['FAILED_PRECONDITION', new ApiError('register first', Code.FailedPrecondition), 'permanent'],
    ['INTERNAL', new ApiError('oops', Code.Internal), 'unknown'],
    ['a bare ECONNREFUSED', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'transient'],
    ['anything else', new TypeError('bug'), 'unknown'],
  ]
  for (const [name, err, kind] of cases) {
    it(`${name} → ${kind}`, () => assert.equal(classifyApiError(err).kind, kind))
  }
})

describe('a backoff wait cut short', () => {
  it('cut() ends the wait in progress and says so; a signal ends it too; a later wait is not cut', async () => {
    const wait = new CuttableWait(sleep)
    const never = new AbortController().signal
    const cutting = wait.wait(600_000, never)
    wait.cut()
    assert.equal(await cutting, true)
    const stop = new AbortController()
    const stopping = wait.wait(600_000, stop.signal)
    stop.abort()
    assert.equal(await stopping, false, 'ended by its signal, not cut')
    wait.cut()
    assert.equal(await wait.wait(10, never), false, 'a cut with no wait in progress is not kept')
  })
})

describe('punch address filter', () => {
  const peer = peerIdFromString('12D3KooWAJjbRkp8FPF5MKgMU53aUTxWkqvDrs4zc1VMbwRwfsbE')
  const v4 = multiaddr('/ip4/11.0.0.2/tcp/4001')
  const v4Again = multiaddr(`/ip4/11.0.0.2/tcp/4001/p2p/${peer}`)
  const v6 = multiaddr('/ip6/2600:1::2/tcp/4001')
  const quic = multiaddr('/ip4/11.0.0.2/udp/4001/quic-v1')
  const relayed = multiaddr(`/ip4/11.0.0.1/tcp/4001/p2p/${peer}/p2p-circuit`)

  it('punches TCP addresses only, once each, never relayed ones', () => {
    assert.equal(isTcpDialable(v4Again), true)
    assert.equal(isTcpDialable(multiaddr('/dns4/example.org/tcp/4001')), true)
    assert.equal(isTcpDialable(quic), false)
    assert.equal(isTcpDialable(multiaddr('/ip4/11.0.0.2/tcp/4001/ws')), false)
    const filter = new PunchAddrFilter()
    assert.deepEqual(filter.select([v4, v4Again, v6, quic, relayed], peer).map(String), [
      String(v4),
      String(v6),
    ])
  })

  it('applies the round’s filter when it matches something', () => {
    const filter = new PunchAddrFilter()
    filter.begin(peer, [41, 6])
    assert.deepEqual(filter.select([v4, v6, quic], peer).map(String), [String(v6)])
    assert.deepEqual(filter.end(), { protocols: [41, 6], refused: {} })
  })

  it('punches unfiltered and says so when the filter matches nothing', () => {
    const filter = new PunchAddrFilter()
    filter.begin(peer, [41, 6])
    assert.deepEqual(filter.select([v4, quic], peer).map(String), [String(v4)])
    const result = filter.end()
    assert.deepEqual(result.protocols, [])
    assert.match(result.note ?? '', /protocol filter \[41,6\] matched none .*punched them unfiltered/)
  })

  it('says when the remote has nothing a TCP-only client can punch', () => {
    const filter = new PunchAddrFilter()
    filter.begin(peer, [])
    assert.deepEqual(filter.select([quic, relayed], peer), [])
    assert.match(filter.end().note ?? '', /no address this client can punch \(tcp\)/)
  })

  it('punches QUIC v1 addresses too when the host has QUIC, never draft-29 ones', () => {
    const filter = new PunchAddrFilter({ transports: new Set(['tcp', 'quic']) })
    const draft29 = multiaddr('/ip4/11.0.0.2/udp/4001/quic')
    assert.deepEqual(filter.select([v4, quic, draft29, relayed], peer).map(String), [
      String(v4),
      String(quic),
    ])
    const quicOnly = new PunchAddrFilter({ transports: new Set(['quic']) })
    assert.deepEqual(quicOnly.select([v4, quic], peer).map(String), [String(quic)])
    assert.equal(isDialableWith(quic, new Set(['tcp'])), false)
    assert.equal(isDialableWith(quic, new Set(['quic'])), true)
  })

  it('offers only our addresses that match the round’s filter, all of them when none does', () => {
    const filter = new PunchAddrFilter({ transports: new Set(['tcp', 'quic']) })
    const other = peerIdFromString('12D3KooWSoLzampfxc4t3sy9z7yq1Cgzbi7zGXpV7nkRJy4xJ5dP')
    const ours = [multiaddr('/ip4/12.0.0.2/tcp/4100'), multiaddr('/ip4/12.0.0.2/udp/4200/quic-v1')]
    assert.deepEqual(filter.selectOwn(ours, peer), ours, 'no round: everything')
    filter.begin(peer, [4, 461])
    assert.deepEqual(filter.selectOwn(ours, peer).map(String), ['/ip4/12.0.0.2/udp/4200/quic-v1'])
    assert.deepEqual(filter.selectOwn(ours, other), ours, 'another remote: everything')
    filter.begin(peer, [41, 6])
    assert.deepEqual(filter.selectOwn(ours, peer), ours, 'nothing matches: everything')
    filter.begin(peer, [])
    assert.deepEqual(filter.selectOwn(ours, peer), ours)
  })
})

describe('host keys and API key file', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'punchr-keys-test-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('creates the file with mode 0600, grows it, and never replaces a key', async () => {
    const path = join(dir, 'nested', 'client.keys')
    const two = await loadHostKeys(path, 2)
    assert.equal(two.length, 2)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const text = await readFile(path, 'utf8')
    assert.equal(text.trim().split('\n').length, 2)

    const five = await loadHostKeys(path, 5)
    assert.deepEqual(
      five.slice(0, 2).map((k) => k.publicKey.toString()),
      two.map((k) => k.publicKey.toString()),
      'the first hosts keep their identities',
    )
    assert.equal(new Set(five.map((k) => k.publicKey.toString())).size, 5)

    const one = await loadHostKeys(path, 1)
    assert.equal(one[0]!.publicKey.toString(), two[0]!.publicKey.toString())
    assert.equal((await readFile(path, 'utf8')).trim().split('\n').length, 5, 'extra keys stay in the file')
    assert.equal(one[0]!.type, 'Ed25519')
  })

  it('reads a file the Go client wrote (base64 protobuf keys, one per line) and tightens its mode', async () => {
    const path = join(dir, 'client.keys')
    const [key] = await loadHostKeys(join(dir, 'seed.keys'), 1)
    const line = (await readFile(join(dir, 'seed.keys'), 'utf8')).trim()
    await writeFile(path, `${line}\n\n`, { mode: 0o644 })
    const [loaded] = await loadHostKeys(path, 1)
    assert.equal(loaded!.publicKey.toString(), key!.publicKey.toString())
    assert.equal((await stat(path)).mode & 0o777, 0o600)
  })

  it('refuses a damaged key file instead of overwriting it', async () => {
    const path = join(dir, 'client.keys')
    await writeFile(path, 'not-a-key\n', { mode: 0o600 })
    await assert.rejects(loadHostKeys(path, 2), ConfigError)
    assert.equal(await readFile(path, 'utf8'), 'not-a-key\n')
  })

  it('reads the API key file when present', async () => {
    assert.equal(await readApiKeyFile(join(dir, 'missing')), undefined)
    await writeFile(join(dir, 'api.key'), '  secret-key \n', { mode: 0o600 })
    assert.equal(await readApiKeyFile(join(dir, 'api.key')), 'secret-key')
  })
})

describe('client configuration', () => {
  it('reads --transports: tcp and quic by default, a clear error for anything else', () => {
    const parse = (argv: string[], env: Record<string, string> = {}) =>
      parseFlags('client', clientFlags, argv, env).values.transports
    assert.deepEqual(parse([]), ['tcp', 'quic'])
    assert.deepEqual(parse(['--transports', 'QUIC']), ['quic'])
    assert.deepEqual(parse(['--transports', 'quic, tcp,quic']), ['quic', 'tcp'])
    assert.deepEqual(parse([], { PUNCHR_CLIENT_TRANSPORTS: 'tcp' }), ['tcp'])
    assert.throws(() => parse(['--transports', 'tcp,udp']), /unknown transport udp \(known: tcp, quic\)/)
    assert.throws(() => parse(['--transports', ',']), /at least one transport/)
  })

  it('reads --ip: the machine’s families by default (empty), ip4/ip6 or 4/6 else', () => {
    const parse = (argv: string[], env: Record<string, string> = {}) =>
      parseFlags('client', clientFlags, argv, env).values.ip
    assert.deepEqual(parse([]), [])
    assert.deepEqual(parse(['--ip', 'ip6,4']), ['ip6', 'ip4'])
    assert.deepEqual(parse([], { PUNCHR_CLIENT_IP: 'IP4' }), ['ip4'])
    assert.throws(() => parse(['--ip', 'ip5']), /unknown IP family ip5 \(known: ip4, ip6\)/)
  })

  it('listens on each family’s wildcard over TCP and on one QUIC socket, dual-stack for both', () => {
    const both = new Set(['tcp', 'quic'] as const)
    assert.deepEqual(listenAddrs('0.0.0.0', new Set(['ip4', 'ip6']), both, 4001, 4002), [
      '/ip4/0.0.0.0/tcp/4001',
      '/ip6/::/tcp/4001',
      '/ip6/::/udp/4002/quic-v1',
    ])
    assert.deepEqual(listenAddrs('0.0.0.0', new Set(['ip4']), both, 4001, 0), [
      '/ip4/0.0.0.0/tcp/4001',
      '/ip4/0.0.0.0/udp/0/quic-v1',
    ])
    assert.deepEqual(listenAddrs('::', new Set(['ip6']), new Set(['tcp']), 4001, 0), ['/ip6/::/tcp/4001'])
    assert.deepEqual(listenAddrs('127.0.0.1', new Set(['ip4']), both, 4001, 0), [
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/127.0.0.1/udp/0/quic-v1',
    ])
  })

  it('turns host:port into the gRPC base URL', () => {
    assert.equal(serverUrl('punchr.example.org:10000', false), 'http://punchr.example.org:10000')
    assert.equal(serverUrl('punchr.example.org:443', true), 'https://punchr.example.org')
    assert.equal(serverUrl('[::1]:10000', false), 'http://[::1]:10000')
    assert.equal(serverUrl('http://127.0.0.1:10000', true), 'https://127.0.0.1:10000')
    assert.throws(() => serverUrl('punchr.example.org', false), ConfigError)
    assert.throws(() => serverUrl('a:b:c', false), ConfigError)
  })

  it('keeps its files where XDG says', () => {
    const env = { HOME: '/home/v', XDG_CONFIG_HOME: '', XDG_STATE_HOME: undefined }
    assert.equal(defaultKeyFile(env), '/home/v/.config/punchr/client.keys')
    assert.equal(defaultApiKeyFile(env), '/home/v/.config/punchr/api.key')
    assert.equal(defaultQueueDir(env), '/home/v/.local/state/punchr/reports')
    assert.equal(defaultKeyFile({ XDG_CONFIG_HOME: '/cfg' }), '/cfg/punchr/client.keys')
    assert.equal(defaultQueueDir({ XDG_STATE_HOME: '/st' }), '/st/punchr/reports')
  })

  it('announces its transports and IP families, which the server understands', () => {
    const agent = clientAgentVersion('0.1.0', ['tcp', 'quic'], ['ip6', 'ip4'])
    assert.equal(agent, 'punchr/ts-client/0.1.0 transports=tcp,quic ip=4,6')
    assert.equal(clientImplementation(agent), 'punchr-ts')
    assert.deepEqual(announcedTransports(agent), ['tcp', 'quic'])
    assert.deepEqual(announcedIpVersions(agent), [4, 6])
    assert.deepEqual(announcedTransports(clientAgentVersion('0.1.0', ['quic'])), ['quic'])
    assert.deepEqual(announcedIpVersions(clientAgentVersion('0.1.0', ['quic'], ['ip6'])), [6])
    assert.equal(announcedIpVersions('punchr/ts-client/0.0.9 transports=tcp'), undefined)
    // Our client's families decide, whatever its reports listed so far.
    const v6only = clientCapabilities(clientAgentVersion('0.1.0', ['tcp'], ['ip6']), [4])
    assert.deepEqual([...v6only.filters.ipVersions], [6])
    assert.deepEqual(
      [...clientCapabilities('punchr/ts-client/0.0.9 transports=tcp', [4]).filters.ipVersions],
      [4],
    )
  })

  it('takes the handshake initiator role only against rust-libp2p remotes', () => {
    for (const attempt of [1, 2, 3, 4]) {
      assert.equal(roleFor('js-libp2p/3.3.11 UserAgent=v22', attempt), 'responder')
      assert.equal(roleFor('rust-libp2p/0.53.0', attempt), 'initiator')
    }
    // go-libp2p B responds, and since v0.48 initiates on its third attempt.
    for (const agent of ['kubo/0.29.0/', 'punchr-lab-go-remote go-libp2p/v0.49.0', undefined]) {
      assert.deepEqual(
        [1, 2, 3, 4, 5, 6].map((n) => roleFor(agent, n)),
        ['initiator', 'initiator', 'responder', 'initiator', 'initiator', 'responder'],
      )
    }
  })
})

describe('the direct connection a round pings', () => {
  const conn = (addr: string, open: number, status = 'open') =>
    ({ remoteAddr: multiaddr(addr), timeline: { open }, status }) as unknown as Connection

  it('is the first direct one opened, not a later (losing) dial', () => {
    const theirs = conn('/ip4/11.0.0.5/udp/4102/quic-v1', 1_000)
    const ours = conn('/ip4/11.0.0.5/udp/4102/quic-v1', 1_008)
    assert.equal(openDirect([ours, theirs]), theirs)
    assert.equal(openDirect([theirs, ours]), theirs)
  })

  it('skips relayed and closing connections; none left: undefined', () => {
    const relayed = conn(
      '/ip4/11.0.0.2/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo/p2p-circuit',
      1,
    )
    const closing = conn('/ip4/11.0.0.5/tcp/4101', 2, 'closing')
    const direct = conn('/ip4/11.0.0.5/tcp/4101', 3)
    assert.equal(openDirect([relayed, closing, direct]), direct)
    assert.equal(openDirect([relayed, closing]), undefined)
  })
})
