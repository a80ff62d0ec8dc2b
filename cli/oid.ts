// --oid FILE: read an object-id file (heapspurs' format), or fail naming the file.

import { type OidTable, parseOidFile } from "../analysis/go/oid_file.ts";
import { UsageError } from "./options.ts";

export async function readOidFile(path: string): Promise<OidTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read the object-id file "${path}": ${(e as Error).message}`, [
      'Each line is a 64-bit value and a name: "0xcaffe14e00000016 Session"',
    ]);
  }
  return parseOidFile(text, path);
}
