// SQL that attaches per-result facts to `hole_punch_results r`, shared by the breakdowns, the
// latest results and the export, so that a number means the same everywhere. Each fact comes
// in two forms with the same answer: a lookup per result (for a few rows: the latest results,
// an export batch) and one hash aggregate over a scope (for breakdowns over many results:
// 2–3 times faster than a lookup per result at 100 k results on PostgreSQL).

/** A fact of a result: `pick` over the rows of `from` that belong to it and meet `condition`. */
interface Fact {
  from: string
  /** The column of `from` that names the result. */
  result: string
  condition: string
  pick: string
}

/** `alias.value` per row of `r`, looked up through the index of the fact's result column. */
function lookup(fact: Fact, alias: string): string {
  return `LEFT JOIN LATERAL (SELECT ${fact.pick} AS value FROM ${fact.from}
    WHERE ${fact.result} = r.id AND ${fact.condition}) ${alias} ON true`
}

/** `alias.value` per row of `r`, from one aggregate over the results of `where` (a scope on `r`). */
function aggregate(fact: Fact, alias: string, where: string): string {
  return `LEFT JOIN (SELECT ${fact.result} AS result_id, ${fact.pick} AS value
    FROM hole_punch_results r JOIN ${fact.from} ON ${fact.result} = r.id
    WHERE ${where} AND ${fact.condition} GROUP BY 1) ${alias} ON ${alias}.result_id = r.id`
}

const WITH_GEO = '(m.country IS NOT NULL OR m.asn IS NOT NULL)'

/**
 * The client's first public listen address with geo data, lowest id first (the host's own
 * addresses as it reported them; behind a NAT the public one is the NAT's). The INITIAL
 * addresses of a result would be wrong here and for the remote alike: they are relay
 * addresses, whose IP is the relay's.
 */
const CLIENT_ADDRESS: Fact = {
  from: 'hole_punch_results_x_listen_multi_addresses x JOIN multi_addresses m ON m.id = x.multi_address_id',
  result: 'x.hole_punch_result_id',
  condition: WITH_GEO,
  pick: 'min(m.id)',
}

/**
 * The remote's first address with geo data that it offered for punching (CONNECT) in any
 * attempt. Every SUCCESS and FAILED result has an attempt, so the success rate by remote
 * country covers them all; the FINAL addresses would be biased towards successes.
 */
const REMOTE_ADDRESS: Fact = {
  from: `hole_punch_attempts a JOIN hole_punch_attempts_x_multi_addresses x ON x.hole_punch_attempt_id = a.id
    JOIN multi_addresses m ON m.id = x.multi_address_id`,
  result: 'a.hole_punch_result_id',
  condition: WITH_GEO,
  pick: 'min(m.id)',
}

/** The first attempt that succeeded (SUCCESS, or DIRECT_DIAL: our own dial of a public address). */
const SUCCESS_ATTEMPT: Fact = {
  from: 'hole_punch_attempts a',
  result: 'a.hole_punch_result_id',
  condition: `a.outcome IN ('SUCCESS', 'DIRECT_DIAL')`,
  pick: 'min(a.attempt_number)::int',
}

const address = (pick: string, alias: string) =>
  `${pick} LEFT JOIN multi_addresses ${alias} ON ${alias}.id = ${alias}_address.value`

/** `cg.country`, `cg.asn`: of the client (see CLIENT_ADDRESS); lookup form. */
export const CLIENT_GEO_JOIN = address(lookup(CLIENT_ADDRESS, 'cg_address'), 'cg')
/** `rg.country`, `rg.asn`: of the remote (see REMOTE_ADDRESS); lookup form. */
export const REMOTE_GEO_JOIN = address(lookup(REMOTE_ADDRESS, 'rg_address'), 'rg')
/** `sa.value`: number of the first successful attempt, NULL when none; lookup form. */
export const SUCCESS_ATTEMPT_JOIN = lookup(SUCCESS_ATTEMPT, 'sa')

/** CLIENT_GEO_JOIN as one aggregate over the results of `where`. */
export const clientGeoOver = (where: string) => address(aggregate(CLIENT_ADDRESS, 'cg_address', where), 'cg')
/** REMOTE_GEO_JOIN as one aggregate over the results of `where`. */
export const remoteGeoOver = (where: string) => address(aggregate(REMOTE_ADDRESS, 'rg_address', where), 'rg')
/** SUCCESS_ATTEMPT_JOIN as one aggregate over the results of `where`. */
export const successAttemptOver = (where: string) => aggregate(SUCCESS_ATTEMPT, 'sa', where)

/** `rp`: the remote's row in peers (agent version as the honeypot last saw it). */
export const REMOTE_PEER_JOIN = 'JOIN peers rp ON rp.id = r.remote_id'

/** The ASN as shown: AS3320. */
export const asnText = (column: string) => `'AS' || ${column}::text`
