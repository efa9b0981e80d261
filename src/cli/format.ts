/**
 * How the CLI shows things to people: binary sizes (`12.3 MiB`), spans and
 * relative times (`in 29m`, `3m ago`), and aligned plain-text tables. Output
 * for machines (`--json`) lives in json-shapes.ts; nothing here is stable.
 */

const SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** A byte count in IEC units with one decimal: `512 B`, `1.0 KiB`, `12.3 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  if (Math.abs(bytes) < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  // Step up while the rounded value would print as 1024.0 or more.
  while (Math.abs(value) >= 1023.95 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}

/** A rate for progress displays: `85.2 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/**
 * A span of time, floored to at most two units: `850ms`, `45s`, `29m`,
 * `5h 3m`, `6d 4h`. Floored so that a fresh 24h lifetime reads `23h 59m`,
 * never more than is really left.
 */
export function formatSpan(ms: number): string {
  if (!Number.isFinite(ms)) return "forever";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)}ms`;
  const seconds = Math.floor(abs / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h ${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d ${hours % 24}h`;
}

/** A moment relative to `now`: `in 29m`, `3m ago`, or `now` within a second. */
export function formatRelative(when: Date, now: number): string {
  const delta = when.getTime() - now;
  if (Math.abs(delta) < 1000) return "now";
  return delta > 0 ? `in ${formatSpan(delta)}` : `${formatSpan(delta)} ago`;
}

/** The EXPIRES cell of an attachment: `in 29m`, `expired 3m ago`, or `never`. */
export function formatExpiry(expiresAt: Date | null, now: number): string {
  if (expiresAt === null) return "never";
  return expiresAt.getTime() <= now ? `expired ${formatSpan(now - expiresAt.getTime())} ago` : formatRelative(expiresAt, now);
}

/**
 * Makes any string safe to print on a terminal: control characters (a scope
 * may hold a newline or an escape sequence) are shown as `\xNN` instead of
 * being interpreted.
 */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Cuts `text` to `max` characters, marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** One column of a {@link renderTable} table. */
export interface Column {
  header: string;
  /** Numbers read best right-aligned. @default "left" */
  align?: "left" | "right";
  /** Longer cells are truncated with an ellipsis. @default unlimited */
  maxWidth?: number;
}

/**
 * An aligned plain-text table: an upper-case header row, then one row per
 * entry, columns separated by two spaces, no trailing blanks. Cells are made
 * printable and truncated to their column's `maxWidth`.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) =>
    columns.map((column, i) => truncate(printable(row[i] ?? ""), column.maxWidth ?? Infinity)),
  );
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((row) => [...(row[i] as string)].length)),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => {
        const pad = " ".repeat((widths[i] as number) - [...cell].length);
        return columns[i]?.align === "right" ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((column) => column.header.toUpperCase())), ...cells.map(line)].join("\n") + "\n";
}

/**
 * Two aligned columns of labels and values, for single records and reports
 * (`show`, `metrics`, `sweep`, `verify`).
 */
export function renderFields(fields: readonly (readonly [label: string, value: string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(width)}  ${printable(value)}`.trimEnd()).join("\n") + "\n";
}

/** `1 attachment`, `3 attachments`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
