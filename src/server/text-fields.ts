import { clone } from '@bufbuild/protobuf'
import { type TrackHolePunchRequest, TrackHolePunchRequestSchema } from '../gen/punchr_pb.js'
import type { ClassifiedMultiaddr } from '../lib/multiaddr.js'
import { withoutNul } from '../lib/text.js'
import { ValidationError } from './validation-error.js'

/**
 * NUL in a report's text. A report's texts quote what remotes chose (their agent version and
 * protocols, errors naming their addresses), and PostgreSQL text cannot hold NUL: stored as
 * sent, one NUL would fail the transaction that stores the report and lose the measurement. So NUL is
 * dropped from every text field and the result names it (`remote-nul-in-text` in `quirks`),
 * as the honeypot drops it from what it records (docs/OUTCOMES.md, "Text").
 */
export const NUL_QUIRK = 'remote-nul-in-text'

/** The report without NUL in any text field (a copy when it had some), and whether it had any. */
export function withoutNulInReport(req: TrackHolePunchRequest): {
  request: TrackHolePunchRequest
  stripped: boolean
} {
  if (!hasNulText(req)) return { request: req, stripped: false }
  const request = clone(TrackHolePunchRequestSchema, req)
  if (request.error !== undefined) request.error = withoutNul(request.error)
  for (const a of request.holePunchAttempts) {
    if (a.error !== undefined) a.error = withoutNul(a.error)
    if (a.directDialError !== undefined) a.directDialError = withoutNul(a.directDialError)
  }
  for (const m of request.latencyMeasurements) {
    m.agentVersion = withoutNul(m.agentVersion)
    m.protocols = m.protocols.map(withoutNul)
    m.rttErrs = m.rttErrs.map(withoutNul)
  }
  for (const n of request.natMappings) {
    n.protocol = withoutNul(n.protocol)
    n.addr = withoutNul(n.addr)
    n.addrNetwork = withoutNul(n.addrNetwork)
  }
  const ni = request.networkInformation
  if (ni !== undefined) {
    if (ni.routerLoginHtml !== undefined) ni.routerLoginHtml = withoutNul(ni.routerLoginHtml)
    if (ni.routerLoginHtmlError !== undefined) ni.routerLoginHtmlError = withoutNul(ni.routerLoginHtmlError)
    if (ni.supportsIpv6Error !== undefined) ni.supportsIpv6Error = withoutNul(ni.supportsIpv6Error)
  }
  return { request, stripped: true }
}

function hasNulText(req: TrackHolePunchRequest): boolean {
  const texts = [
    req.error,
    ...req.holePunchAttempts.flatMap((a) => [a.error, a.directDialError]),
    ...req.latencyMeasurements.flatMap((m) => [m.agentVersion, ...m.protocols, ...m.rttErrs]),
    ...req.natMappings.flatMap((n) => [n.protocol, n.addr, n.addrNetwork]),
    req.networkInformation?.routerLoginHtml,
    req.networkInformation?.routerLoginHtmlError,
    req.networkInformation?.supportsIpv6Error,
  ]
  return texts.some((t) => t?.includes('\0') === true)
}

/** The address lists of a validated report, whose multiaddr texts may quote a remote. */
interface ReportAddresses {
  remoteMultiAddresses: ClassifiedMultiaddr[]
  openMultiAddresses: ClassifiedMultiaddr[]
  listenMultiAddresses: ClassifiedMultiaddr[]
  attempts: { multiAddresses: ClassifiedMultiaddr[] }[]
  latencies: { multiAddress: ClassifiedMultiaddr }[]
}

/**
 * The validated report without NUL in its addresses' text (a DNS name or an SNI component a
 * remote advertised can carry one; it cannot be stored either), and whether it had any. The
 * address keeps its classification; only its stored text loses the NUL.
 */
export function withoutNulInAddresses<R extends ReportAddresses>(
  report: R,
): { report: R; stripped: boolean } {
  const all = [
    ...report.remoteMultiAddresses,
    ...report.openMultiAddresses,
    ...report.listenMultiAddresses,
    ...report.attempts.flatMap((a) => a.multiAddresses),
    ...report.latencies.map((l) => l.multiAddress),
  ]
  // The common case copies nothing.
  if (!all.some((a) => a.maddr.includes('\0'))) return { report, stripped: false }
  const clean = (a: ClassifiedMultiaddr): ClassifiedMultiaddr =>
    a.maddr.includes('\0') ? { ...a, maddr: withoutNul(a.maddr) } : a
  const cleaned: R = {
    ...report,
    remoteMultiAddresses: report.remoteMultiAddresses.map(clean),
    openMultiAddresses: report.openMultiAddresses.map(clean),
    listenMultiAddresses: report.listenMultiAddresses.map(clean),
    attempts: report.attempts.map((a) => ({ ...a, multiAddresses: a.multiAddresses.map(clean) })),
    latencies: report.latencies.map((l) => ({ ...l, multiAddress: clean(l.multiAddress) })),
  }
  return { report: cleaned, stripped: true }
}

/**
 * A text the client itself chose (Register's agent version and protocols): NUL there is the
 * client's mistake, refused with the field named.
 */
export function assertNoNul(text: string, field: string): void {
  if (text.includes('\0'))
    throw new ValidationError(field, 'contains NUL (U+0000), which cannot be stored; send text without it')
}
