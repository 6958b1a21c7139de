import { LIMITS } from './report-limits.js'

/**
 * Text a peer chose, made storable: PostgreSQL's text type cannot hold NUL (U+0000), and one
 * in a statement's parameter fails the whole statement (SQLSTATE 22021). NUL carries nothing a
 * reader of agent versions or protocol IDs needs, so it is dropped.
 */
export function withoutNul(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '') : text
}

/** The text without NUL and cut to `maxChars` characters (not in the middle of a surrogate pair). */
export function boundedText(text: string, maxChars: number): string {
  const clean = withoutNul(text)
  if (clean.length <= maxChars) return clean
  const cut = clean.slice(0, maxChars)
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut
}

/** A text a remote peer chose (agent version, protocol ID, an error quoting it), as we keep it. */
export function remoteText(text: string): string {
  return boundedText(text, LIMITS.maxRemoteTextChars)
}

/**
 * A remote peer's protocol IDs as we keep them: the first LIMITS.maxProtocols, each a
 * `remoteText`, as long as their characters stay within LIMITS.maxRemoteProtocolChars.
 */
export function remoteProtocols(protocols: readonly string[]): string[] {
  const kept: string[] = []
  let chars = 0
  for (const protocol of protocols.slice(0, LIMITS.maxProtocols).map(remoteText)) {
    chars += protocol.length
    if (chars > LIMITS.maxRemoteProtocolChars) break
    kept.push(protocol)
  }
  return kept
}
