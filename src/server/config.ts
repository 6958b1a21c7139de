import { databaseFlags } from '../db/database-flags.js'
import { boolFlag, type FlagValues, portFlag, stringFlag } from '../lib/flags.js'

/** Flags of `punchr server` (each also read from PUNCHR_SERVER_<FLAG>). */
export const serverFlags = {
  host: stringFlag('host', 'Address to listen on (gRPC and HTTP)', '0.0.0.0', { group: 'Network' }),
  port: portFlag(
    'port',
    'gRPC port (HTTP/2: gRPC; Connect and gRPC-Web are also served on the HTTP port)',
    10000,
    { group: 'Network' },
  ),
  httpPort: portFlag('http-port', 'HTTP port: /metrics, /healthz, dashboard, Connect/gRPC-Web', 10001, {
    group: 'Network',
  }),
  openRegistration: boolFlag(
    'open-registration',
    'Let Register create a key for an unknown one (rate-limited)',
    false,
    { group: 'Access' },
  ),
  ...databaseFlags,
}

export type ServerConfig = FlagValues<typeof serverFlags>
