import {
  boolFlag,
  type FlagSpec,
  type FlagValues,
  intFlag,
  optionalStringFlag,
  portFlag,
  stringFlag,
} from '../lib/flags.js'
import { DEFAULT_BOOTSTRAP_PEERS, peerAddrsFlag } from '../lib/peer-addrs-flag.js'
import {
  DEFAULT_HOST_COUNT,
  DEFAULT_METRICS_PORT,
  NOT_FOUND_WAIT_MS,
  REST_AFTER_IDLE_MS,
} from './constants.js'
import { IP_FAMILIES, type IpFamily } from './ip-families.js'
import { defaultApiKeyFile, defaultKeyFile, defaultQueueDir } from './paths.js'
import type { PunchTransport } from './punch-addrs.js'

/** Whether and where the client fingerprints the home router (router-probe.ts). */
export type RouterProbeSetting = 'off' | 'on' | { gateway: string; port: number | undefined }

function parseRouterProbe(raw: string, fail: (reason: string) => never): RouterProbeSetting {
  const value = raw.trim()
  if (/^(off|false|no|0)$/i.test(value)) return 'off'
  if (/^(on|true|yes|1)$/i.test(value)) return 'on'
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value)
  const port = match?.[2] === undefined ? undefined : Number(match[2])
  if (match === null || (port !== undefined && (port < 1 || port > 65535)))
    return fail('expected on, off, or host[:port] of the router')
  return { gateway: match[1]!, port }
}

export const clientFlags = {
  server: stringFlag('server', 'punchr server gRPC address, host:port', '127.0.0.1:10000', {
    group: 'Server',
  }),
  tls: boolFlag('tls', 'Talk TLS to the server', false, { group: 'Server' }),
  tlsSkipVerify: boolFlag('tls-skip-verify', 'Accept any TLS certificate (self-signed test servers)', false, {
    group: 'Server',
  }),
  apiKey: optionalStringFlag(
    'api-key',
    'API key (else the file $XDG_CONFIG_HOME/punchr/api.key, see --api-key-file)',
    { group: 'Server', secret: true },
  ),
  saveApiKey: optionalStringFlag(
    'save-api-key',
    "Store this API key in the API key file (as punchr login does), then measure with it; '-' reads it from stdin (a key on the command line shows in ps while the client runs)",
    { group: 'Server', secret: true },
  ),
  apiKeyFile: stringFlag(
    'api-key-file',
    'File holding the API key (default $XDG_CONFIG_HOME/punchr/api.key)',
    '',
    {
      group: 'Server',
    },
  ),
  hostCount: intFlag(
    'host-count',
    'Hosts (identities and port pairs) used in rotation',
    DEFAULT_HOST_COUNT,
    1,
    256,
    {
      group: 'Measurement',
    },
  ),
  keyFile: stringFlag(
    'key-file',
    'Host identities, one base64 key per line, mode 0600 (default $XDG_CONFIG_HOME/punchr/client.keys)',
    '',
    { group: 'Measurement' },
  ),
  rounds: intFlag('rounds', 'Rounds to run before exiting; 0 = until stopped', 0, 0, 1_000_000_000, {
    group: 'Measurement',
  }),
  noRemoteWait: intFlag(
    'no-remote-wait',
    'Seconds to wait when the server has no remote to hand out',
    NOT_FOUND_WAIT_MS / 1000,
    1,
    3600,
    { group: 'Measurement' },
  ),
  restAfterIdle: intFlag(
    'rest-after-idle',
    'Seconds without a remote to measure (none on the server, or the server unreachable) after which the hosts close their connections until their next round (saves CPU while idle); 0 = never',
    REST_AFTER_IDLE_MS / 1000,
    0,
    86_400,
    { group: 'Measurement' },
  ),
  transports: transportsFlag(),
  ip: ipFamiliesFlag(),
  bootstrapPeers: peerAddrsFlag(
    'bootstrap-peers',
    'Peers each host connects to first, to learn its observed address (comma-separated multiaddrs with /p2p/)',
    DEFAULT_BOOTSTRAP_PEERS,
  ),
  punchPrivateAddrs: boolFlag(
    'punch-private-addrs',
    "Also punch remotes' private and loopback addresses: for a testbed on one machine or a private network, never the public one (a remote could aim dials into your network)",
    false,
    { group: 'Network' },
  ),
  portMapping: boolFlag(
    'port-mapping',
    "Ask the home gateway (NAT-PMP, UPnP IGD) to map each host's listening ports, as the original client did; the reports carry the mappings (nat_mappings), which are renewed and removed on exit",
    true,
    { group: 'Network' },
  ),
  routerProbe: {
    name: 'router-probe',
    description:
      "Fingerprint the home router's web page for the reports (its title, Server header, vendor and model names, a hash; never the page itself): on, off, or host[:port] to ask instead of the default gateway",
    default: 'on' as RouterProbeSetting,
    group: 'Network',
    parse: parseRouterProbe,
  } satisfies FlagSpec<RouterProbeSetting>,
  listenHost: stringFlag(
    'listen-host',
    'Address the hosts listen on (and dial from, when not a wildcard)',
    '0.0.0.0',
    {
      group: 'Network',
    },
  ),
  queueDir: stringFlag(
    'queue-dir',
    'Reports waiting for the server (default $XDG_STATE_HOME/punchr/reports, ~/.local/state/punchr/reports)',
    '',
    { group: 'Storage' },
  ),
  metricsPort: portFlag(
    'metrics-port',
    'Status page (/, /status.json) and Prometheus /metrics on 127.0.0.1 (0 = any free port)',
    DEFAULT_METRICS_PORT,
    {
      group: 'Monitoring',
    },
  ),
  dashboardUrl: optionalStringFlag(
    'dashboard-url',
    "The server's dashboard, for the status page's My results link; '' = none (default: the --server host on port 10001, https with --tls)",
    { group: 'Monitoring' },
  ),
}

export type ClientFlags = FlagValues<typeof clientFlags>

/** `--transports tcp,quic`: what the hosts measure with (the server serves filters to match). */
function transportsFlag(): FlagSpec<PunchTransport[]> {
  return {
    name: 'transports',
    description: 'Transports to hole punch with, comma-separated: tcp, quic',
    group: 'Measurement',
    default: ['tcp', 'quic'],
    parse: (raw, fail) => {
      const names = raw
        .split(',')
        .map((t) => t.trim().toLowerCase())
        .filter((t) => t !== '')
      const unknown = names.filter((t) => t !== 'tcp' && t !== 'quic')
      if (unknown.length > 0) fail(`unknown transport ${unknown.join(', ')} (known: tcp, quic)`)
      if (names.length === 0) fail('name at least one transport: tcp, quic')
      return [...new Set(names)] as PunchTransport[]
    },
  }
}

/** `--ip ip4,ip6`: the IP families the hosts measure on; empty = those the machine has. */
function ipFamiliesFlag(): FlagSpec<IpFamily[]> {
  return {
    name: 'ip',
    description:
      'IP families to listen and hole punch on, comma-separated: ip4, ip6 (default: those the machine reaches the internet on)',
    group: 'Measurement',
    default: [],
    parse: (raw, fail) => {
      const names = raw
        .split(',')
        .map((f) => f.trim().toLowerCase())
        .filter((f) => f !== '')
        .map((f) => (f === '4' ? 'ip4' : f === '6' ? 'ip6' : f))
      const unknown = names.filter((f) => !(IP_FAMILIES as readonly string[]).includes(f))
      if (unknown.length > 0) fail(`unknown IP family ${unknown.join(', ')} (known: ip4, ip6)`)
      return [...new Set(names)] as IpFamily[]
    },
  }
}

/** The paths of the flags, with the environment's defaults filled in. */
export function resolvePaths(
  flags: Pick<ClientFlags, 'keyFile' | 'apiKeyFile' | 'queueDir'>,
  env: Record<string, string | undefined>,
): { keyFile: string; apiKeyFile: string; queueDir: string } {
  return {
    keyFile: flags.keyFile !== '' ? flags.keyFile : defaultKeyFile(env),
    apiKeyFile: flags.apiKeyFile !== '' ? flags.apiKeyFile : defaultApiKeyFile(env),
    queueDir: flags.queueDir !== '' ? flags.queueDir : defaultQueueDir(env),
  }
}
