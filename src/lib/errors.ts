/** The database could not be reached (connection refused, server restarting, …). Transient. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError'
}

/** A value from outside (config, flag, file) is not acceptable; the message says which and why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** Errors whose message is the whole story for the user: the CLI prints them without a stack. */
export function isUserFacing(err: unknown): err is Error {
  return err instanceof Error && (err instanceof ConfigError || err.name === 'DataDirLockedError')
}
