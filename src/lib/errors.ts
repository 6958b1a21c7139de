/** The database could not be reached (connection refused, server restarting, …). Transient. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError'
}

/**
 * Concurrent transactions kept getting in each other's way (a deadlock or a serialization
 * failure, PostgreSQL 40P01 / 40001) after the transaction was retried. Transient: the same
 * request a moment later succeeds.
 */
export class TransactionConflictError extends Error {
  override readonly name = 'TransactionConflictError'
}

/** An error whose message is the whole story for the user: the CLI prints it without a stack. */
export class UserFacingError extends Error {}

/** A value from outside (config, flag, file) is not acceptable; the message says which and why. */
export class ConfigError extends UserFacingError {
  override readonly name = 'ConfigError'
}
