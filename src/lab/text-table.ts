/** Lines of a plain-text table: columns padded to their widest cell, two spaces apart. */
export function textTable(header: string[], rows: string[][], options: { rule?: boolean } = {}): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(header), ...(options.rule ? [line(widths.map((w) => '-'.repeat(w)))] : []), ...rows.map(line)]
}
