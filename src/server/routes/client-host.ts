import { Code, ConnectError } from '@connectrpc/connect'
import type { Authorization } from '../../db/authorizations.js'
import type { ClientHost } from '../../db/clients.js'

/**
 * Resolves the host a request speaks for with `lookUp` (ServerContext's findHost, or its
 * recentHosts for reports) and checks it is bound to the presented key:
 * an unregistered host must call Register first (FAILED_PRECONDITION); a host registered
 * under another key is refused (PERMISSION_DENIED; docs/PROTOCOL.md, "API keys").
 */
export async function requireOwnHost(
  lookUp: (multiHash: string) => Promise<ClientHost | undefined>,
  multiHash: string,
  authorization: Authorization,
  field: string,
): Promise<ClientHost> {
  const host = await lookUp(multiHash)
  if (host === undefined)
    throw new ConnectError(
      `${field}: host ${multiHash} is not registered; call Register first`,
      Code.FailedPrecondition,
    )
  if (host.authorizationId !== authorization.id) {
    throw new ConnectError(
      `${field}: host ${multiHash} is registered with another API key`,
      Code.PermissionDenied,
    )
  }
  return host
}
