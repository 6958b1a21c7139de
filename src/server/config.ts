import { databaseFlags } from '../db/database-flags.js'
import { boolFlag, type FlagValues, portFlag, stringFlag } from '../lib/flags.js'

/** Flags of `punchr server` (each also read from PUNCHR_SERVER_<FLAG>). */
export const serverFlags = {
  host: stringFlag('host', 'Address to listen on (gRPC and HTTP)', '0.0.0.0', { group: 'Network' }),
  port: portFlag('port', 'API port: gRPC, gRPC-Web and Connect over HTTP/2 cleartext', 10000, {
    group: 'Network',
  }),
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
