// SQL that attaches the remote's peer row to `hole_punch_results r`, shared by the agent
// breakdown, the latest results and the export. The other facts they show (first successful
// attempt, client and remote country/ASN) are columns of the result, filled when it is stored
// (insertHolePunchReports, sql/migrations/0002).

/** `rp`: the remote's row in peers (agent version as the honeypot last saw it). */
export const REMOTE_PEER_JOIN = 'JOIN peers rp ON rp.id = r.remote_id'
