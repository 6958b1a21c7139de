import { create } from '@bufbuild/protobuf'
import { Code, ConnectError } from '@connectrpc/connect'
import { multiaddr } from '@multiformats/multiaddr'
import { allocateRemote } from '../../db/allocation.js'
import { findClientHosts } from '../../db/clients.js'
import {
  type GetAddrInfoRequest,
  GetAddrInfoRequestSchema,
  type GetAddrInfoResponse,
  GetAddrInfoResponseSchema,
} from '../../gen/punchr_pb.js'
import { peerIdToBytes } from '../../lib/peer-id.js'
import { LIMITS } from '../../lib/report-limits.js'
import { clientCapabilities, undecodableProtocolNames } from '../client-capabilities.js'
import type { ServerContext } from '../context.js'
import { chooseProtocolFilter, withRemoteIpVersions } from '../protocol-filter.js'
import { assertMaxCount, assertRequiredFields, peerIdField } from '../validate.js'
import { requireOwnHost } from './client-host.js'

/**
 * GetAddrInfo: hands out one remote to hole punch (docs/PROTOCOL.md, "Allocation"), with only
 * the relay addresses and a protocol filter the asking host can use (client-capabilities.ts).
 */
export async function getAddrInfo(ctx: ServerContext, req: GetAddrInfoRequest): Promise<GetAddrInfoResponse> {
  const authorization = await ctx.auth.authenticate(req.apiKey)
  assertRequiredFields(GetAddrInfoRequestSchema, req)
  const hostId = peerIdField(req.hostId, 'host_id')
  assertMaxCount(req.allHostIds, LIMITS.maxHostIds, 'all_host_ids')
  const allHostIds = req.allHostIds.map((bytes, i) => peerIdField(bytes, `all_host_ids[${i}]`))
  const host = await requireOwnHost(ctx.findHost, hostId, authorization, 'host_id')
  // Only hosts bound to the same key count as "this client": nobody can make the server
  // skip remotes on behalf of someone else's hosts.
  const siblings = [...(await findClientHosts(ctx.db, allHostIds)).values()].filter(
    (h) => h.authorizationId === authorization.id,
  )
  const hostClientIds = [...new Set([host.clientId, ...siblings.map((h) => h.clientId)])]

  const capabilities = clientCapabilities(host.agentVersion, host.listenIpVersions)
  const random = ctx.random()
  const stopTimer = ctx.metrics.allocationDuration.startTimer()
  const allocation = await allocateRemote(
    ctx.db,
    {
      clientId: host.clientId,
      hostClientIds,
      // Among the filters the client can run, those of an IP version the remote has an
      // address of: an ip6 filter for an IPv4-only remote would measure nothing.
      protocols: (remoteIpVersions) =>
        chooseProtocolFilter(
          withRemoteIpVersions(capabilities.filters, remoteIpVersions),
          random,
          ctx.filterShares,
        ),
      // A private or loopback relay hop is an address in the dialling client's own network:
      // only a server told so (--private-relay-hops: a testbed on one machine or a private
      // network) hands one out.
      privateRelayHops: ctx.privateRelayHops,
      undecodableProtocols: undecodableProtocolNames(capabilities.decodes),
    },
    ctx.allocation,
  ).finally(stopTimer)
  if (allocation === undefined)
    throw new ConnectError('no remote peer available right now; retry in 30 s', Code.NotFound)
  return create(GetAddrInfoResponseSchema, {
    remoteId: peerIdToBytes(allocation.remoteMultiHash),
    multiAddresses: allocation.relayAddrs.map((a) => multiaddr(a).bytes),
    protocols: allocation.protocols,
  })
}
