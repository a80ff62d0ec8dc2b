// Export of a table as CSV (RFC 4180) or JSON: the columns and rows the viewer shows, raw values.

export interface ExportColumn<Row> {
  key: string;
  label: string;
  value: (row: Row) => string | number | boolean | undefined;
}

/** CSV text: a header line of labels, then one line per row; fields quoted when they need it. */
export function toCsv<Row>(columns: ExportColumn<Row>[], rows: readonly Row[]): string {
  const field = (v: string | number | boolean | undefined) => {
    const s = v === undefined ? "" : String(v);
    // A leading =, +, - or @ makes spreadsheets run the cell as a formula: quote it as text.
    const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines = [columns.map((c) => field(c.label)).join(",")];
  for (const row of rows) lines.push(columns.map((c) => field(c.value(row))).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** JSON text: an array of objects keyed by column key. */
export function toJson<Row>(columns: ExportColumn<Row>[], rows: readonly Row[]): string {
  return JSON.stringify(
    rows.map((row) => Object.fromEntries(columns.map((c) => [c.key, c.value(row) ?? null]))),
    null,
    1,
  );
}
