// What the dashboard knows of the server it runs in, for the empty state's instructions
// (docs/DASHBOARD.md, "A new campaign"). The server hands these over when it builds the
// dashboard; nothing here is secret: no database URL, no key, no path.
import { normalize } from 'node:path'
import { databaseFlags } from '../db/database-flags.js'

export interface ServerFacts {
  /** The bound gRPC port (--port), known once the server listens. */
  grpcPort(): number
  /** The API speaks TLS: clients need `--tls`. */
  tls: boolean
  /** Register creates a key for an unknown one (--open-registration). */
  openRegistration: boolean
  /** Relay addresses at private hops are handed out (--private-relay-hops). */
  privateRelayHops: boolean
  database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres' }
}

/** The server uses the data folder `punchr keys add` uses when given none. */
export function usesDefaultDataDir(facts: ServerFacts): boolean {
  return (
    facts.database.kind === 'pglite' &&
    normalize(facts.database.dataDir) === normalize(databaseFlags.dataDir.default)
  )
}
