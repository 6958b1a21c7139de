// `punchr honeypot`: the DHT-server node that records NATed DCUtR-capable peers (docs/HONEYPOT.md).
// Once listening it prints, on stdout, lines the NAT lab parses (keep the format):
//   honeypot peer ID: <peer ID>
//   honeypot listening on <multiaddr>/p2p/<peer ID>        (one per address)
//   honeypot metrics on http://<host>:<port>/metrics
import type { PrivateKey } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Database } from '../db/database.js'
import { openDatabase } from '../db/database.js'
import { databaseFlags } from '../db/database-flags.js'
import { migrate } from '../db/migrate.js'
import {
  DEFAULT_HTTP_PORT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_WALK_INTERVAL,
} from '../honeypot/constants.js'
import { Honeypot } from '../honeypot/honeypot.js'
import { loadOrCreateKey } from '../honeypot/key-file.js'
import {
  type FlagSpec,
  type FlagValues,
  intFlag,
  parseFlags,
  portFlag,
  renderHelp,
  stringFlag,
} from '../lib/flags.js'
import type { GeoLookup } from '../lib/geo.js'
import { createGeoLookup } from '../lib/geo.js'
import { logger } from '../lib/logger.js'
import { DEFAULT_BOOTSTRAP_PEERS, peerAddrsFlag } from '../lib/peer-addrs-flag.js'
import { VERSION } from '../lib/version.js'
import type { Command } from './main.js'
import { untilSignal } from './signals.js'

// Default undefined (= none), so that --help shows no empty default.
const announceFlag: FlagSpec<Multiaddr[] | undefined> = {
  name: 'announce',
  description:
    'Extra addresses to advertise, comma-separated multiaddrs (a public address the host does not see itself, e.g. behind 1:1 NAT)',
  group: 'Network',
  default: undefined,
  parse: (raw, fail) =>
    raw
      .split(',')
      .map((text) => text.trim())
      .filter((text) => text !== '')
      .map((text) => {
        try {
          return multiaddr(text)
        } catch (err) {
          return fail(`${text} is not a multiaddr (${err instanceof Error ? err.message : String(err)})`)
        }
      }),
}

/** Flags of `punchr honeypot` (each also read from PUNCHR_HONEYPOT_<FLAG>). */
export const honeypotFlags = {
  listenHost: stringFlag('listen-host', 'Address the libp2p node and /metrics listen on', '0.0.0.0', {
    group: 'Network',
  }),
  listenHost6: stringFlag(
    'listen-host6',
    "IPv6 address the libp2p node listens on as well, TCP only ('' = none, :: = every IPv6 address); QUIC stays on --listen-host",
    '',
    { group: 'Network' },
  ),
  port: portFlag('port', 'libp2p port, TCP and QUIC v1', DEFAULT_PORT, {
    group: 'Network',
  }),
  httpPort: portFlag('http-port', 'HTTP port: /metrics and /healthz', DEFAULT_HTTP_PORT, {
    group: 'Network',
  }),
  announce: announceFlag,
  keyFile: stringFlag(
    'key-file',
    'Identity: one base64 libp2p private key (protobuf), created with mode 0600 when missing',
    'honeypot.key',
    { group: 'Identity' },
  ),
  bootstrapPeers: {
    ...peerAddrsFlag(
      'bootstrap-peers',
      "Peers a walk starts from while the routing table is empty (comma-separated multiaddrs with /p2p/; '' = no walking)",
      DEFAULT_BOOTSTRAP_PEERS,
    ),
    group: 'DHT',
  },
  walkInterval: intFlag(
    'walk-interval',
    'Seconds between two DHT walks',
    DEFAULT_WALK_INTERVAL / 1000,
    0,
    86_400,
    {
      group: 'DHT',
    },
  ),
  maxConnections: intFlag(
    'max-connections',
    'Open connections at most (inbound ones above it are refused)',
    DEFAULT_MAX_CONNECTIONS,
    10,
    1_000_000,
    { group: 'Limits' },
  ),
  ...databaseFlags,
}

type HoneypotFlags = FlagValues<typeof honeypotFlags>

export const runHoneypot: Command = async (argv, env) => {
  const { values, help } = parseFlags('honeypot', honeypotFlags, argv, env)
  if (help) {
    process.stdout.write(renderHelp('honeypot', 'punchr honeypot [flags]', honeypotFlags))
    return 0
  }
  const log = logger('honeypot')
  const privateKey = await loadOrCreateKey(values.keyFile, log)
  await withDatabase(values, async (db, geo) => {
    // Listening for signals before the lines are printed: whoever reads them may stop us at once.
    const stopping = untilSignal()
    const honeypot = await startHoneypot(values, privateKey, db, geo)
    const signal = await stopping
    log.info({ signal }, 'received signal')
    await honeypot.stop()
  })
  return 0
}

/** Opens and migrates the database and loads the geo data, runs `fn`, then closes both. */
export async function withDatabase(
  where: Pick<HoneypotFlags, 'dataDir' | 'databaseUrl'>,
  fn: (db: Database, geo: GeoLookup) => Promise<void>,
): Promise<void> {
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir })
  const geo = createGeoLookup()
  try {
    await migrate(db)
    await geo.ready()
    await fn(db, geo)
  } finally {
    geo.close()
    await db.close()
  }
}

/** Builds and starts a honeypot from its flags and prints where it listens. */
export async function startHoneypot(
  values: Omit<HoneypotFlags, 'dataDir' | 'databaseUrl' | 'keyFile'>,
  privateKey: PrivateKey,
  db: Database,
  geo: GeoLookup,
): Promise<Honeypot> {
  const honeypot = await Honeypot.create(
    {
      privateKey,
      version: VERSION,
      listenHost: values.listenHost,
      listenHost6: values.listenHost6,
      port: values.port,
      httpPort: values.httpPort,
      announce: values.announce ?? [],
      bootstrapPeers: values.bootstrapPeers,
      walkInterval: values.walkInterval * 1000,
      maxConnections: values.maxConnections,
    },
    { db, geo: (ip) => geo.lookup(ip) },
  )
  try {
    await honeypot.start()
  } catch (err) {
    await honeypot.stop()
    throw err
  }
  const lines = [
    `honeypot peer ID: ${honeypot.peerId.toString()}`,
    ...honeypot.listenAddrs.map((addr) => `honeypot listening on ${addr.toString()}`),
    `honeypot metrics on ${httpUrl(values.listenHost, honeypot.httpPort)}/metrics`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  return honeypot
}

/** http://host:port, IPv6 hosts in brackets. */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}
