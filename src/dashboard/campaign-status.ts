// GET /api/campaign-status: how far a campaign has come and what to do next
// (docs/DASHBOARD.md, "A new campaign"). The page shows its checklist while no result is
// stored, and a honeypot line afterwards. Public like the other aggregates, and campaign-wide
// whoever asks: it holds no key, no user name, no database URL and no path.
import { ELIGIBLE_WINDOW_SECONDS } from '../db/allocation.js'
import type { Queryable } from '../db/database.js'
import { HEARTBEAT_SILENT_AFTER_MS, type HoneypotHeartbeat } from '../db/honeypot-heartbeats.js'
import { VERSION } from '../lib/version.js'
import { type CampaignFacts, campaignFacts } from './queries/campaign.js'
import { grpcAddressFor } from './server-address.js'
import { type ServerFacts, usesDefaultDataDir } from './server-facts.js'

/**
 * What a honeypot's heartbeat says, best first: walking (its last walk reached DHT peers),
 * walk failing (it runs, its last walk reached none: no internet?), starting (it runs, its
 * first walk is under way), not walking (it runs without bootstrap peers), silent (no beat for
 * HEARTBEAT_SILENT_AFTER_MS: crashed, or cut off from the database), stopped (an orderly stop).
 */
export const HONEYPOT_STATES = [
  'walking',
  'walk failing',
  'starting',
  'not walking',
  'silent',
  'stopped',
] as const
export type HoneypotState = (typeof HONEYPOT_STATES)[number]

export interface HoneypotStatus {
  peerId: string
  state: HoneypotState
  startedAt: string
  beatAt: string
  lastWalkAt: string | null
  lastWalkResult: string | null
  /** Connection events it stored since it started. */
  eventsRecorded: number
}

export interface CampaignStatus {
  now: string
  /** The three steps of a new campaign, each done or not. */
  checklist: { keyIssued: boolean; remotesReady: boolean; resultsStored: boolean }
  keys: { issued: boolean; openRegistration: boolean | null }
  /** The best state among the honeypots (`none`: no honeypot ever wrote to this database). */
  honeypot: { state: HoneypotState | 'none'; honeypots: HoneypotStatus[] }
  peers: { recorded: number; capped: boolean; lastHour: number; lastRecordedAt: string | null }
  /** Remotes that could be handed out now: a honeypot saw them within the last `windowSeconds`. */
  remotes: { ready: number; windowSeconds: number }
  results: { stored: boolean }
  server: {
    version: string
    /** host:port for `punchr client --server`; null when the request's Host was no host. */
    grpcAddress: string | null
    /** The Host names this machine only: volunteers elsewhere need its public name or IP. */
    grpcAddressIsLocal: boolean
    tls: boolean | null
    database: 'pglite' | 'postgres' | null
  }
  commands: {
    /** How the operator issues a key, and whether the server may keep running meanwhile. */
    issueKey: { command: string; whileServerRuns: boolean }
    /** What a volunteer runs, in order. */
    volunteer: string[]
  }
}

export function honeypotState(beat: HoneypotHeartbeat, dbNow: Date): HoneypotState {
  if (beat.stoppedAt !== undefined) return 'stopped'
  if (dbNow.getTime() - beat.beatAt.getTime() > HEARTBEAT_SILENT_AFTER_MS) return 'silent'
  if (!beat.walksEnabled) return 'not walking'
  if (beat.lastWalk === undefined) return 'starting'
  return beat.lastWalk.result === 'ok' ? 'walking' : 'walk failing'
}

function honeypotStatus(beat: HoneypotHeartbeat, dbNow: Date): HoneypotStatus {
  return {
    peerId: beat.peerId,
    state: honeypotState(beat, dbNow),
    startedAt: beat.startedAt.toISOString(),
    beatAt: beat.beatAt.toISOString(),
    lastWalkAt: beat.lastWalk?.at.toISOString() ?? null,
    lastWalkResult: beat.lastWalk?.result ?? null,
    eventsRecorded: beat.eventsRecorded,
  }
}

/** `punchr keys add` against the server's database: the form that works for it. */
function issueKeyCommand(server: ServerFacts | undefined): CampaignStatus['commands']['issueKey'] {
  if (server?.database.kind === 'postgres')
    // Any number of processes share PostgreSQL: the key can be added while the server runs.
    return {
      command: "DATABASE_URL=<the server's DATABASE_URL> punchr keys add --user <name>",
      whileServerRuns: true,
    }
  // PGlite is one process's: the server must be stopped first. The server's own folder is not
  // shown unless it is the default (a path says more about a machine than a page needs to).
  const dataDir =
    server === undefined || usesDefaultDataDir(server) ? '' : " --data-dir <the server's --data-dir>"
  return { command: `punchr keys add --user <name>${dataDir}`, whileServerRuns: false }
}

function volunteerCommands(server: ServerFacts | undefined, grpcAddress: string | undefined): string[] {
  const address = grpcAddress ?? `<server>:${server?.grpcPort() ?? '<port>'}`
  return [
    `npm install -g punchr-${VERSION}.tgz`,
    'punchr login <key>',
    `punchr client --server ${address}${server?.tls === true ? ' --tls' : ''}`,
  ]
}

export async function campaignStatus(
  db: Queryable,
  server: ServerFacts | undefined,
  hostHeader: string | undefined,
  now: Date,
): Promise<CampaignStatus> {
  // Without the server's facts (a dashboard outside a server) hand-outs are judged as a public
  // server does: public relay hops only.
  const facts: CampaignFacts = await campaignFacts(db, server?.privateRelayHops ?? false)
  const honeypots = facts.heartbeats.map((b) => honeypotStatus(b, facts.dbNow))
  const best = HONEYPOT_STATES.find((s) => honeypots.some((h) => h.state === s)) ?? 'none'
  const grpc = server === undefined ? undefined : grpcAddressFor(hostHeader, server.grpcPort())
  return {
    now: now.toISOString(),
    checklist: {
      keyIssued: facts.keyIssued,
      remotesReady: facts.remotesReady > 0,
      resultsStored: facts.resultsStored,
    },
    keys: { issued: facts.keyIssued, openRegistration: server?.openRegistration ?? null },
    honeypot: { state: best, honeypots },
    peers: {
      recorded: facts.peersRecorded,
      capped: facts.peersCapped,
      lastHour: facts.peersLastHour,
      lastRecordedAt: facts.lastRecordedAt?.toISOString() ?? null,
    },
    remotes: { ready: facts.remotesReady, windowSeconds: ELIGIBLE_WINDOW_SECONDS },
    results: { stored: facts.resultsStored },
    server: {
      version: VERSION,
      grpcAddress: grpc?.address ?? null,
      grpcAddressIsLocal: grpc?.local ?? false,
      tls: server?.tls ?? null,
      database: server?.database.kind ?? null,
    },
    commands: { issueKey: issueKeyCommand(server), volunteer: volunteerCommands(server, grpc?.address) },
  }
}
