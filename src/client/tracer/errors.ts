// One named error per way an attempt can go wrong, so that the name can be counted (the message
// carries the detail). Names end up in trace events as `errorName`.

/** A HolePunch message could not be decoded (bad protobuf, missing or unknown type). */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError'
}

/** A HolePunch message is larger than the spec's 4 KiB limit. */
export class MessageTooLargeError extends Error {
  override readonly name = 'MessageTooLargeError'
}

/** A well-formed message arrived out of turn (SYNC where CONNECT was due, or the reverse). */
export class UnexpectedMessageError extends Error {
  override readonly name = 'UnexpectedMessageError'
}

/** The remote's CONNECT carried no address we can dial (go-libp2p rejects these too). */
export class NoDialableAddressesError extends Error {
  override readonly name = 'NoDialableAddressesError'
}

/** The remote closed or reset the stream in the middle of a CONNECT/SYNC round. */
export class StreamEndedError extends Error {
  override readonly name = 'StreamEndedError'
}

/** A dcutr stream arrived on a direct connection: nothing to upgrade (go-libp2p refuses it too). */
export class NotRelayedError extends Error {
  override readonly name = 'NotRelayedError'
}

/** An attempt saw no terminal event within its time limit. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError'
}

/** A hole-punch dial did not finish within its time limit (whether or not it honoured the signal). */
export class DialTimeoutError extends Error {
  override readonly name = 'DialTimeoutError'
}

/** None of the host's transports can dial the address. */
export class NoTransportError extends Error {
  override readonly name = 'NoTransportError'
}

/** Why an attempt was stopped before it finished on its own. */
export type AbortReason = 'cancelled' | 'superseded' | 'direct-connection'

/**
 * The attempt was stopped before it finished: `cancel()` or `stop()` ('cancelled'), a newer
 * attempt of the same remote ('superseded'), or a direct connection that came another way.
 */
export class AttemptAbortedError extends Error {
  override readonly name = 'AttemptAbortedError'

  constructor(
    message: string,
    readonly reason: AbortReason,
  ) {
    super(message)
  }
}

/** The message of any thrown value, for event fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.name : err.message
  return String(err)
}

/** The name of any thrown value, for event fields. */
export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err
}
