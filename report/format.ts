// One vocabulary for numbers and strings, shared by the terminal output and the HTML viewer.

/** "512 B", "3.5 KiB", "113.7 KiB", "562 MiB": binary units, one decimal below 100. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "?";
  if (Math.abs(bytes) < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024, u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Math.abs(v) < 100 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * "1,240,512". Integers are grouped here: the first `toLocaleString` loads ICU's locale data, 14 ms
 * of every run that prints a summary. Anything else is left to it.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString("en-US");
  const digits = String(Math.abs(n));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += "," + digits.slice(i, i + 3);
  return n < 0 ? "-" + out : out;
}

/** "0.4 ms", "850 ms", "12.3 s", "4.2 min", "1.5 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** "0x55d0c1a2b3c0". */
export function formatAddress(n: number): string {
  return "0x" + n.toString(16);
}

/**
 * A string from the target (command line, zone name, symbol) made safe for a terminal: control
 * characters, escape sequences included, are shown as \xNN instead of acting on the reader's
 * terminal.
 */
export function printable(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && (c < 0x7f || c > 0x9f)) out += ch;
    else if (ch === "\n" || ch === "\t") out += " ";
    else out += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out;
}
