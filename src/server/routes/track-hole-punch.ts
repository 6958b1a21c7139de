import { createHash } from 'node:crypto'
import { create, toBinary } from '@bufbuild/protobuf'
import {
  type TrackHolePunchRequest,
  TrackHolePunchRequestSchema,
  type TrackHolePunchResponse,
  TrackHolePunchResponseSchema,
} from '../../gen/punchr_pb.js'
import { clientImplementation, listenIpVersions } from '../client-capabilities.js'
import type { ServerContext } from '../context.js'
import { normaliseQuirks } from '../quirks.js'
import { NUL_QUIRK, withoutNulInAddresses, withoutNulInReport } from '../text-fields.js'
import { assertRequiredFields, peerIdField, toHolePunchReport } from '../validate.js'
import { requireOwnHost } from './client-host.js'

/**
 * TrackHolePunch: validates and stores one report (docs/PROTOCOL.md, "Wire API"). A rejected
 * report writes nothing (INVALID_ARGUMENT names the field); an accepted one is stored whole in
 * one transaction, with the reports that arrived beside it (group commit); the same report sent again (a retry after a lost answer) is stored once. A
 * report of the original Go or Rust client has its known quirks normalised first and named in
 * the result (quirks.ts), as has NUL in any report's text (text-fields.ts).
 */
export async function trackHolePunch(
  ctx: ServerContext,
  req: TrackHolePunchRequest,
): Promise<TrackHolePunchResponse> {
  const authorization = await ctx.auth.authenticate(req.apiKey)
  assertRequiredFields(TrackHolePunchRequestSchema, req)
  const clientMultiHash = peerIdField(req.clientId, 'client_id')
  // The host first: its agent version says which client's quirks the report may show.
  const host = await requireOwnHost(
    (multiHash) => ctx.recentHosts.get(multiHash),
    clientMultiHash,
    authorization,
    'client_id',
  )
  const implementation = clientImplementation(host.agentVersion)
  const clean = withoutNulInReport(req)
  const normalised = normaliseQuirks(clean.request, implementation)
  const { report, stripped: nulInAddresses } = withoutNulInAddresses(
    toHolePunchReport(normalised.request, ctx.nowNs()),
  )
  const quirks: string[] = [...normalised.quirks, ...(clean.stripped || nulInAddresses ? [NUL_QUIRK] : [])]
  // A report's identity: its bytes as sent without the API key (a retry may use a rotated key).
  const sent = toBinary(TrackHolePunchRequestSchema, { ...req, apiKey: '' })
  // Answered once the batch the report joined is committed (group-commit.ts).
  const resultId = await ctx.reports.add(
    {
      ...report,
      clientId: host.clientId,
      clientImplementation: implementation,
      quirks,
      reportSha256: createHash('sha256').update(sent).digest(),
      ...(report.listenMultiAddresses.length > 0
        ? { clientListenIpVersions: listenIpVersions(report.listenMultiAddresses) }
        : {}),
    },
    sent.byteLength,
  )
  if (resultId === undefined) {
    ctx.metrics.duplicateReports.inc()
    ctx.log.info(
      { client: clientMultiHash, remote: report.remoteId },
      'report was stored before; not stored again',
    )
    return create(TrackHolePunchResponseSchema)
  }
  ctx.metrics.results.inc({ outcome: report.outcome })
  for (const quirk of quirks) ctx.metrics.normalisedQuirks.inc({ quirk })
  if (quirks.length > 0)
    ctx.log.info(
      { client: clientMultiHash, result: resultId, quirks },
      'stored a report with known client quirks normalised',
    )
  return create(TrackHolePunchResponseSchema)
}
