// CaptureError: the one error type of the capture layer, with a stable code and `Hint:` lines.

/** Why a capture failed; stable strings that main.ts maps to exit codes and messages. */
export type CaptureErrorCode =
  | "no_process"
  | "permission"
  | "busy"
  | "zombie"
  | "self"
  | "exited"
  | "io"
  | "unsupported"
  | "timeout"
  | "changed"
  | "internal";

/** A capture failure: `message` says what failed for which pid, `hints` say what to do. */
export class CaptureError extends Error {
  override readonly name = "CaptureError";
  readonly code: CaptureErrorCode;
  readonly hints: string[];
  /** The shim's own message (errno text, which thread, which call), when there is one. */
  readonly detail: string;

  constructor(code: CaptureErrorCode, message: string, hints: string[] = [], detail = "") {
    super(message);
    this.code = code;
    this.hints = hints;
    this.detail = detail;
  }

  /** The message followed by one `Hint:` line per hint, as the command line prints it. */
  format(): string {
    return [this.message, ...this.hints.map((h) => `Hint: ${h}`)].join("\n");
  }
}
