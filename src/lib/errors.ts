/** The database could not be reached (connection refused, server restarting, …). Transient. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError'
}

/** An error whose message is the whole story for the user: the CLI prints it without a stack. */
export class UserFacingError extends Error {}

/** A value from outside (config, flag, file) is not acceptable; the message says which and why. */
export class ConfigError extends UserFacingError {
  override readonly name = 'ConfigError'
}
