import { create } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { ClientBoundToOtherKeyError, registerClient } from '../../db/clients.js'
import { upsertPeer } from '../../db/peers.js'
import {
  type RegisterRequest,
  RegisterRequestSchema,
  type RegisterResponse,
  RegisterResponseSchema,
} from '../../gen/punchr_pb.js'
import { LIMITS } from '../../lib/report-limits.js'
import type { ServerContext } from '../context.js'
import { assertNoNul } from '../text-fields.js'
import { assertMaxCount, assertNonEmpty, assertRequiredFields, peerIdField } from '../validate.js'

/** Register: binds a client host to the API key it presents (docs/PROTOCOL.md, "API keys"). */
export async function register(ctx: ServerContext, req: RegisterRequest): Promise<RegisterResponse> {
  const authorization = await ctx.auth.authenticate(req.apiKey, true)
  assertRequiredFields(RegisterRequestSchema, req)
  const clientId = peerIdField(req.clientId, 'client_id')
  assertNonEmpty(req.agentVersion, 'agent_version')
  assertNoNul(req.agentVersion, 'agent_version')
  assertMaxCount(req.protocols, LIMITS.maxProtocols, 'protocols')
  for (const [i, protocol] of req.protocols.entries()) assertNoNul(protocol, `protocols[${i}]`)
  const peerId = await ctx.db.transaction(async (tx) => {
    const id = await upsertPeer(tx, {
      multiHash: clientId,
      agentVersion: req.agentVersion,
      protocols: req.protocols,
    })
    try {
      await registerClient(tx, id, authorization.id)
    } catch (err) {
      if (err instanceof ClientBoundToOtherKeyError) {
        throw new ConnectError(
          `client_id: host ${clientId} is registered with another API key`,
          Code.PermissionDenied,
        )
      }
      throw err
    }
    return id
  })
  // Its next report reads the agent version registered now, not one remembered from before.
  ctx.recentHosts.forget(clientId)
  ctx.log.info(
    { client: clientId, user: authorization.username, agent: req.agentVersion },
    'registered client host',
  )
  return create(RegisterResponseSchema, { dbPeerId: BigInt(peerId) })
}
