// Quoting for systemd unit files (systemd.service(5), "Command lines"; systemd.unit(5),
// "Specifiers"). systemd reads an ExecStart= line in three passes, and a literal argument has to
// survive each of them:
//   1. specifiers: `%x` is replaced (at load) — a literal `%` must be written `%%`;
//   2. words: the line is split at whitespace, double quotes group, and C escapes (`\n`, `\"`,
//      `\\`, `\xNN`) are undone inside and outside quotes — so `\` and `"` are escaped;
//   3. environment: `$NAME` and `${NAME}` are expanded (at start) — a literal `$` is `$$`.
// Every argument we did not write ourselves goes through quoteExecArg, so a flag value with a
// space, a quote, a `%` or a `$` reaches punchr exactly as it was typed.

/** Characters that need no quoting in any of the three passes. */
const PLAIN = /^[A-Za-z0-9_@+=:,./-]+$/

/** One argument as systemd must read it back: `"…"` when anything in it is not plain. */
export function quoteExecArg(arg: string): string {
  if (arg.includes('\0')) throw new RangeError('a command-line argument cannot contain a NUL byte')
  if (PLAIN.test(arg)) return arg
  let out = ''
  for (const char of arg) out += escapeChar(char)
  return `"${out}"`
}

/**
 * An argument of a command line: a literal, or `{ raw }` for one we wrote ourselves that is
 * meant for systemd to expand (`%d/api-key`: the unit's credentials folder).
 */
export type ExecArg = string | { raw: string }

/** A whole command line (`ExecStart=` value). */
export function execLine(argv: readonly ExecArg[]): string {
  return argv.map((arg) => (typeof arg === 'string' ? quoteExecArg(arg) : arg.raw)).join(' ')
}

/**
 * A value for a setting that takes one path or word (`WorkingDirectory=`, a `ReadWritePaths=`
 * entry): only specifiers are expanded there, but whitespace would split list settings, so
 * values with whitespace or quotes are refused rather than guessed at.
 */
export function unitPathValue(path: string): string {
  if (/[\s"'\\]/.test(path) || path.includes('\0'))
    throw new RangeError(`a path with whitespace, quotes or backslashes cannot go into a unit file: ${path}`)
  return path.replaceAll('%', '%%')
}

function escapeChar(char: string): string {
  switch (char) {
    case '%':
      return '%%'
    case '$':
      return '$$'
    case '\\':
      return '\\\\'
    case '"':
      return '\\"'
    case '\n':
      return '\\n'
    case '\t':
      return '\\t'
    case '\r':
      return '\\r'
  }
  const code = char.codePointAt(0)!
  // Other control characters would end or corrupt the line: written as \xNN.
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`
  return char
}
