// Test helpers: start a program (optionally under the LD_PRELOAD ground-truth interposer
// build/libtruth.so), read its stdout line by line, and dump the interposer's live set.

/** The repository root, without a trailing slash. */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The interposer built by `make truth` (and `make victim`). */
export const TRUTH_LIB = `${ROOT}/build/libtruth.so`;

/** Throws a clear error when a build product the tests need is missing. */
export function requireBuilt(path: string, target: string): void {
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`Missing build product ${path}: run 'make ${target}' first`);
  }
}

export interface StartOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  cwd?: string;
  /** "piped" (default) keeps stdin open until closeStdin() or stop(). */
  stdin?: "piped" | "null";
  /** Where the child's stderr goes; "inherit" by default so failures are visible. */
  stderr?: "inherit" | "null";
}

/** A started child process with line-oriented stdout; stop() (or `await using`) ends it. */
export class TestProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** Directory the interposer dumps into, when started with startWithTruth(). */
  readonly truthDir: string | undefined;
  /** Every stdout line read so far. */
  readonly lines: string[] = [];
  #reader: ReadableStreamDefaultReader<string>;
  #pending: Promise<ReadableStreamReadResult<string>> | null = null;
  #buffer = "";
  #eof = false;
  #stdinWriter: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #status: Promise<Deno.CommandStatus>;
  #stopped = false;

  constructor(cmd: string[], opts: StartOptions, truthDir?: string) {
    const [program, ...args] = cmd;
    if (program === undefined) throw new Error("Cannot start a process: the command is empty");
    this.truthDir = truthDir;
    this.child = new Deno.Command(program, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: opts.stdin ?? "piped",
      stdout: "piped",
      stderr: opts.stderr ?? "inherit",
    }).spawn();
    this.pid = this.child.pid;
    this.#status = this.child.status;
    this.#reader = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    if ((opts.stdin ?? "piped") === "piped") this.#stdinWriter = this.child.stdin.getWriter();
  }

  /** The next stdout line, or null at end of output; throws after timeoutMs. */
  async readLine(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.lines.push(line);
        return line;
      }
      if (this.#eof) {
        if (this.#buffer === "") return null;
        const line = this.#buffer;
        this.#buffer = "";
        this.lines.push(line);
        return line;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out after ${timeoutMs} ms reading stdout of pid ${this.pid}`);
      }
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), left);
      });
      const result = await Promise.race([this.#pending, timeout]);
      clearTimeout(timer);
      if (result === "timeout") continue;
      this.#pending = null;
      if (result.done) this.#eof = true;
      else this.#buffer += result.value;
    }
  }

  /** Reads lines until one satisfies `match`; returns the lines read by this call, match included. */
  async waitForLine(match: (line: string) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const seen: string[] = [];
    for (;;) {
      const line = await this.readLine(Math.max(1, deadline - Date.now()));
      if (line === null) {
        throw new Error(
          `Process ${this.pid} closed stdout before the awaited line; it printed: ${
            JSON.stringify(seen.slice(-5))
          }`,
        );
      }
      seen.push(line);
      if (match(line)) return seen;
    }
  }

  async writeStdin(text: string): Promise<void> {
    if (!this.#stdinWriter) throw new Error(`Process ${this.pid} has no piped stdin`);
    await this.#stdinWriter.write(new TextEncoder().encode(text));
  }

  async closeStdin(): Promise<void> {
    const w = this.#stdinWriter;
    this.#stdinWriter = null;
    if (w) await w.close().catch(() => {});
  }

  /** Waits for the process to exit; throws after timeoutMs (the process is then left running). */
  async wait(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Process ${this.pid} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.#status, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process (SIGCONT, SIGTERM, then SIGKILL after 5 s), drains it, removes truthDir. */
  async stop(): Promise<Deno.CommandStatus> {
    if (!this.#stopped) {
      this.#stopped = true;
      await this.closeStdin();
      for (const sig of ["SIGCONT", "SIGTERM"] as const) {
        try {
          Deno.kill(this.pid, sig);
        } catch { /* already gone */ }
      }
      try {
        await this.wait(5_000);
      } catch {
        try {
          Deno.kill(this.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      await this.#reader.cancel().catch(() => {});
      if (this.truthDir) await Deno.remove(this.truthDir, { recursive: true }).catch(() => {});
      truthDirs.delete(this.pid);
    }
    return await this.#status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts `cmd` with its stdout piped to line-oriented readers. */
export function spawnProcess(cmd: string[], opts: StartOptions = {}): TestProcess {
  return new TestProcess(cmd, opts);
}

const truthDirs = new Map<number, string>();

/**
 * Starts `cmd` under LD_PRELOAD=build/libtruth.so with a fresh HEAPSCOPE_TRUTH_DIR. Wait until
 * the program has started (e.g. it printed READY) before dumpTruth(): SIGUSR2 kills a process whose
 * interposer is not loaded yet.
 */
export function startWithTruth(cmd: string[], opts: StartOptions = {}): TestProcess {
  requireBuilt(TRUTH_LIB, "truth");
  const dir = Deno.makeTempDirSync({ prefix: "heapscope-truth-" });
  const env = { ...opts.env, LD_PRELOAD: TRUTH_LIB, HEAPSCOPE_TRUTH_DIR: dir };
  const proc = new TestProcess(cmd, { ...opts, env }, dir);
  truthDirs.set(proc.pid, dir);
  return proc;
}

export interface DumpOptions {
  /** Directory the process dumps into; default: the one startWithTruth() chose for it. */
  dir?: string;
  timeoutMs?: number;
}

/** Sends SIGUSR2 to a process running under the interposer and returns its live set: address → requested size. */
export async function dumpTruth(pid: number, opts: DumpOptions = {}): Promise<Map<number, number>> {
  const dir = opts.dir ?? truthDirs.get(pid) ?? Deno.env.get("HEAPSCOPE_TRUTH_DIR") ?? "/tmp";
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const file = `${dir}/truth.${pid}`;
  await Deno.remove(file).catch(() => {});
  Deno.kill(pid, "SIGUSR2");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text: string | null = null;
    try {
      text = await Deno.readTextFile(file); // written to a .tmp name and renamed: complete when seen
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (text !== null) return parseTruth(text, file);
    if (Date.now() > deadline) {
      throw new Error(`No truth dump ${file} within ${timeoutMs} ms of SIGUSR2 to pid ${pid}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Parses a dump: lines "0xADDR SIZE", then "END COUNT". */
export function parseTruth(text: string, name = "truth dump"): Map<number, number> {
  const live = new Map<number, number>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const end = lines.pop();
  const m = end?.match(/^END (\d+)$/);
  if (!m) throw new Error(`Truth dump ${name} is incomplete: last line is ${JSON.stringify(end)}`);
  for (const line of lines) {
    const e = line.match(/^0x([0-9a-f]+) (\d+)$/);
    if (!e) throw new Error(`Truth dump ${name} has a malformed line: ${JSON.stringify(line)}`);
    const address = parseInt(e[1]!, 16);
    if (live.has(address)) throw new Error(`Truth dump ${name} lists 0x${e[1]} twice`);
    live.set(address, Number(e[2]));
  }
  if (live.size !== Number(m[1])) {
    throw new Error(`Truth dump ${name} has ${live.size} entries but says END ${m[1]}`);
  }
  return live;
}
