import { Code, ConnectError } from '@connectrpc/connect'

/**
 * A request value that breaks the contract. `field` is the proto path, e.g.
 * `hole_punch_attempts[1].ended_at`. Keeps ConnectError's `name`: Connect recognises its
 * errors by that name, and a renamed subclass would be answered as INTERNAL.
 */
export class ValidationError extends ConnectError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`, Code.InvalidArgument)
  }
}
