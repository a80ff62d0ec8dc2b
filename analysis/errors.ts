// HeapscopeError: the one base of every expected failure, with its hints and its exit status.
//
// Every layer throws a subclass (UsageError in cli/, CaptureError in ffi/, AnalysisError here,
// LeaksFileError and OutputFileError in report/); the command line prints message and hints the
// same way for all and exits with `exitStatus`. Anything else that reaches the top is a bug.

/** heapscope's exit statuses (README "Exit status"). */
export const EXIT = {
  /** Nothing leaked. */
  clean: 0,
  /** Leaks found. */
  leaks: 1,
  /** Usage error, or an input or output file that cannot be used. */
  usage: 2,
  /** The target could not be analysed (no such process, not permitted, foreign allocator…). */
  cannot: 3,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

export class HeapscopeError extends Error {
  constructor(
    message: string,
    readonly hints: string[] = [],
    readonly exitStatus: ExitStatus = EXIT.cannot,
  ) {
    super(message);
    this.name = "HeapscopeError";
  }

  /** The message followed by one `Hint:` line per hint, as the command line prints it. */
  format(): string {
    return [this.message, ...this.hints.map((h) => `Hint: ${h}`)].join("\n");
  }
}

/** The analysis could not be done (an allocator heapscope cannot read, no heap found...). */
export class AnalysisError extends HeapscopeError {
  constructor(message: string, hints: string[] = []) {
    super(message, hints, EXIT.cannot);
    this.name = "AnalysisError";
  }
}
