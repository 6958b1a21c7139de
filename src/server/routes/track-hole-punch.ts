import { createHash } from 'node:crypto'
import { create, toBinary } from '@bufbuild/protobuf'
import { insertHolePunchReport } from '../../db/hole-punches.js'
import {
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
  type TrackHolePunchResponse,
  TrackHolePunchResponseSchema,
} from '../../gen/punchr_pb.js'
import type { ServerContext } from '../context.js'
import { assertRequiredFields, peerIdField, toHolePunchReport } from '../validate.js'
import { requireOwnHost } from './client-host.js'

/**
 * TrackHolePunch: validates and stores one report (SPEC §2, §3, §8). A rejected report
 * writes nothing (INVALID_ARGUMENT names the field); an accepted one is stored whole in one
 * transaction; the same report sent again (a retry after a lost answer) is stored once.
 */
export async function trackHolePunch(
  ctx: ServerContext,
  req: TrackHolePunchRequest,
): Promise<TrackHolePunchResponse> {
  const authorization = await ctx.auth.authenticate(req.apiKey)
  assertRequiredFields(TrackHolePunchRequestSchema, req)
  const clientMultiHash = peerIdField(req.clientId, 'client_id')
  const report = toHolePunchReport(req, ctx.nowNs())
  const host = await requireOwnHost(ctx.db, clientMultiHash, authorization, 'client_id')
  const resultId = await insertHolePunchReport(
    ctx.db,
    { ...report, clientId: host.clientId, reportSha256: reportDigest(req) },
    ctx.geo,
  )
  if (resultId === undefined) {
    ctx.metrics.duplicateReports.inc()
    ctx.log.info(
      { client: clientMultiHash, remote: report.remoteId },
      'report was stored before; not stored again',
    )
  } else {
    ctx.metrics.results.inc({ outcome: report.outcome })
  }
  return create(TrackHolePunchResponseSchema)
}

/** Identity of a report: its canonical bytes without the API key (a retry may use a rotated key). */
function reportDigest(req: TrackHolePunchRequest): Uint8Array {
  return createHash('sha256')
    .update(toBinary(TrackHolePunchRequestSchema, { ...req, apiKey: '' }))
    .digest()
}
