// Object-id files (heapspurs --oid): "0xcaffe14e00000016 pionwebrtcsource.webrtcSource" per line,
// a 64-bit value a program writes in the first word of its objects and the name it stands for.
//
// O(lines). Values are kept as 16-digit lowercase hex keys: they are 64-bit and do not fit a number.

import { EXIT, HeapscopeError } from "../errors.ts";

/** Names by first-word value. */
export interface OidTable {
  /** 16 lowercase hex digits (no 0x) → index into `names`. */
  byValue: Map<string, number>;
  names: string[];
}

/** A line of an object-id file that is not "VALUE NAME". */
export class OidFileError extends HeapscopeError {
  constructor(message: string, hints: string[]) {
    super(message, hints, EXIT.usage);
    this.name = "OidFileError";
  }
}

/** Parses an object-id file; blank lines and lines starting with # are skipped. */
export function parseOidFile(text: string, fileName = "(oid file)"): OidTable {
  const byValue = new Map<string, number>();
  const names: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(0[xX])?([0-9a-fA-F]{1,16})\s+(\S.*)$/.exec(line);
    if (!m) {
      throw new OidFileError(
        `Cannot read object-id file ${fileName}: line ${i + 1} is not "VALUE NAME": ` +
          JSON.stringify(line.slice(0, 80)),
        ['each line is a 64-bit hex value and a name, e.g. "0xcaffe14e00000016 pkg.Type"'],
      );
    }
    const key = m[2]!.toLowerCase().padStart(16, "0");
    if (!byValue.has(key)) {
      byValue.set(key, names.length);
      names.push(m[3]!.trim());
    }
  }
  return { byValue, names };
}

/** The key of a 64-bit little- or big-endian word in `bytes` at `at`, as `OidTable` keys it. */
export function wordKey(bytes: Uint8Array, at: number, bigEndian: boolean): string {
  let s = "";
  for (let i = 0; i < 8; i++) {
    const b = bytes[bigEndian ? at + i : at + 7 - i] ?? 0;
    s += (b < 16 ? "0" : "") + b.toString(16);
  }
  return s;
}
