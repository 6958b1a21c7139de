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
