/**
 * One CSV line (RFC 4180, LF line end): nothing for null/undefined, `""` for an empty text
 * (DuckDB tells the two apart), numbers in full precision, quotes around fields with a comma,
 * quote, line break or outer blank, so that pandas and DuckDB read back what was written.
 */
export function csvRow(cells: readonly unknown[]): string {
  return `${cells.map(csvField).join(',')}\n`
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value)
  const text = value instanceof Date ? value.toISOString() : String(value)
  return text === '' || /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}
