/** An answer other than 200, with the message the client sees. */
export class HttpError extends Error {
  override readonly name = 'HttpError'

  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 429 | 500 | 503,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}
