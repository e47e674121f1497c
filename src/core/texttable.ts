// SPDX-License-Identifier: Apache-2.0
// texttable.ts: the plain column layout every text listing of the CLI prints (list, status, check reports).

/** Columns as wide as their widest cell, two spaces apart; the last one is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
