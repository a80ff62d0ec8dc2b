// Frame names for a terminal: shorten long C++/Rust names, fold library frames to the user's own.
//
// `shortName` keeps the qualified function name and collapses what makes a libstdc++ name 700
// characters long: first the parameter list, then template arguments from the innermost out, then
// the leading qualifiers; full names stay in leaks.json. `classifyFrame` says whose code a frame is
// (the allocator entry, a language runtime or standard library, heapscope's recorder, or the
// user's), and `userFrame` finds the innermost frame of the user's code in a stack with what was
// folded on the way ("at make_tree(int) sessions.cpp:49, via 6 std:: frames").
// All pure; O(length of the name) per name, O(frames) per stack.

import type { StackFrame } from "../analysis/sites.ts";

/** Whose code a frame runs. */
export type FrameKind =
  | "allocator" // malloc family, operator new/delete, __rust_alloc: where every stack starts
  | "library" // C++ standard library, Rust's alloc/core/std, hashbrown: the containers
  | "runtime" // program start-up (_start, __libc_start_main, Rust's lang_start)
  | "recorder" // heapscope's own recorder (build/librecorder.so)
  | "user"; // everything else: the program's own code and its other libraries

const ELLIPSIS = "…";

/** glibc's allocation entry points (and their __libc_ aliases) as they appear in stacks. */
const MALLOC_FAMILY = new Set([
  "malloc",
  "calloc",
  "realloc",
  "reallocarray",
  "free",
  "posix_memalign",
  "aligned_alloc",
  "memalign",
  "valloc",
  "pvalloc",
  "strdup",
  "strndup",
  "__libc_malloc",
  "__libc_calloc",
  "__libc_realloc",
  "__libc_free",
  "__libc_memalign",
  "__libc_valloc",
  "__libc_pvalloc",
  "__strdup",
  "__strndup",
]);

/** Rust's global allocator shims (the #[global_allocator] glue rustc emits). */
const RUST_ALLOCATOR = /^__(rust|rdl|rg)_(alloc|alloc_zeroed|realloc|dealloc)$/;

/** Start-up frames of every process: below main. */
const RUNTIME = new Set([
  "_start",
  "__libc_start_main",
  "__libc_start_call_main",
  "_dl_start_user",
]);

/** Namespaces and crates of the C++ and Rust standard libraries (and hashbrown, std's HashMap). */
const LIBRARY_PREFIX = /^(std|__gnu_cxx|__cxxabiv1|__cxx11|alloc|core|hashbrown)::/;

/** Rust's start-up, which is inside std:: but is the runtime, not a container. */
const RUST_RUNTIME =
  /^(std::rt::|std::sys::backtrace::__rust_begin_short_backtrace|std::panicking::|std::panic::catch_unwind|core::ops::function::FnOnce::call_once)/;

/** Shared objects whose every frame is runtime or standard library, whatever the name says. */
const LIBRARY_IMAGE =
  /\/(libstdc\+\+\.so[^/]*|libc\.so\.6|libgcc_s\.so[^/]*|ld-linux[^/]*\.so[^/]*)$/;

/**
 * The function's own name without its qualifying type or impl: `<alloc::Global as
 * core::alloc::Allocator>::allocate` → `alloc::Global`, `std::vector<…>::push_back(…)` → `std::…`.
 * Used to classify Rust trait impls by the type they are for.
 */
function subject(name: string): string {
  if (!name.startsWith("<")) return name;
  // Rust `<Type as Trait>::f` / `<Type>::f`: classify by Type.
  let depth = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === "<") depth++;
    else if (c === ">") depth--;
    if (depth === 1 && name.startsWith(" as ", i)) return name.slice(1, i);
    if (depth === 0) return name.slice(1, i);
  }
  return name.slice(1);
}

/** Whose code `frame` runs (by function name, then by image and source file). */
export function classifyFrame(frame: StackFrame): FrameKind {
  if (frame.image && /\/librecorder\.so$/.test(frame.image)) return "recorder";
  const name = frame.function ?? "";
  const bare = name.replace(/\(.*$/s, ""); // C++ parameter list off
  if (MALLOC_FAMILY.has(bare) || RUST_ALLOCATOR.test(bare)) return "allocator";
  if (/^operator (new|delete)(\[\])?$/.test(bare)) return "allocator";
  if (RUNTIME.has(bare) || RUST_RUNTIME.test(name)) return "runtime";
  if (/^<?(fn\(\)|&dyn core::ops::function::Fn)/.test(name)) return "runtime"; // lang_start glue
  if (LIBRARY_PREFIX.test(subject(name))) return "library";
  if (frame.image && LIBRARY_IMAGE.test(frame.image)) {
    return /libc\.so|ld-linux/.test(frame.image) ? "runtime" : "library";
  }
  // Inlined library code has the user's image but the library's source file.
  if (frame.file && /^(\/usr\/include\/c\+\+\/|\/rustc\/[0-9a-f]+\/library\/)/.test(frame.file)) {
    return "library";
  }
  return "user";
}

/** The namespace or crate a library frame is in, for "via 6 std:: frames"; "" when none. */
export function frameNamespace(frame: StackFrame): string {
  const name = subject(frame.function ?? "");
  const m = /^([A-Za-z_][A-Za-z0-9_]*)::/.exec(name);
  if (m) return `${m[1] === "__gnu_cxx" || m[1] === "__cxxabiv1" ? "std" : m[1]}::`;
  if (/^operator (new|delete)/.test(name)) return "std::";
  return "";
}

/** The user's frame of a stack, and what was folded to reach it. */
export interface UserFrame {
  /** Index in the stack (innermost first) of the first frame of the user's code. */
  index: number;
  frame: StackFrame;
  /** Library, allocator and recorder frames between the allocation and `frame`. */
  folded: number;
  /** "via 6 std:: frames", "via 2 alloc::/core:: frames", "" when nothing was folded. */
  via: string;
}

/**
 * The innermost frame of the user's own code in `stack` (innermost first) and the frames folded
 * before it. When no frame is the user's (an allocation made by the runtime itself), the first
 * library frame, else the first that is not the recorder's; undefined for an empty stack.
 */
export function userFrame(stack: readonly StackFrame[]): UserFrame | undefined {
  const kinds = stack.map((f, i) =>
    // Rust's C `main` only calls std::rt::lang_start: start-up, not the user's main.
    f.function === "main" && i > 0 && classifyFrame(stack[i - 1]!) === "runtime"
      ? "runtime"
      : classifyFrame(f)
  );
  let index = kinds.indexOf("user");
  if (index < 0) index = kinds.indexOf("library");
  if (index < 0) index = kinds.findIndex((k) => k !== "recorder");
  if (index < 0) return undefined;
  const skipped = stack.slice(0, index);
  // The allocator entry and the recorder are where every stack starts: not worth a mention.
  const shown = skipped.filter((_, i) => kinds[i] === "library");
  const spaces: string[] = [];
  for (const f of shown) {
    const ns = frameNamespace(f) || "library";
    if (!spaces.includes(ns)) spaces.push(ns);
  }
  const what = spaces.length > 2 ? "library" : spaces.join("/");
  const via = shown.length === 0
    ? ""
    : `via ${shown.length} ${what} frame${shown.length === 1 ? "" : "s"}`;
  return { index, frame: stack[index]!, folded: skipped.length, via };
}

/** Bracket pairs that nest in demangled names. */
const CLOSE: Record<string, string> = { "<": ">", "(": ")", "[": "]", "{": "}" };

/** One bracketed group of a name: [open, close] offsets and its depth among groups of any kind. */
interface Group {
  open: number;
  close: number;
  kind: string;
  depth: number;
}

/**
 * The bracketed groups of a demangled name. `operator<`, `operator<<=`, `operator->`,
 * `operator()` and Rust's `->` are text, not brackets. Unbalanced input gives the groups that
 * closed.
 */
function groups(name: string): Group[] {
  const out: Group[] = [];
  const stack: { open: number; kind: string }[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name.startsWith("operator", i) && !/[A-Za-z0-9_]/.test(name[i - 1] ?? " ")) {
      const m =
        /^operator\s*(\(\)|\[\]|<=>|<<=|>>=|->\*?|<<|>>|<=|>=|[-+*/%^&|~!=<>,]=?|new\[\]|delete\[\]|new|delete|"")/
          .exec(
            name.slice(i),
          );
      if (m) {
        i += m[0].length - 1;
        continue;
      }
    }
    const c = name[i]!;
    if (c === "-" && name[i + 1] === ">") {
      i++;
      continue;
    }
    if (CLOSE[c]) stack.push({ open: i, kind: c });
    else if (stack.length > 0 && c === CLOSE[stack[stack.length - 1]!.kind]) {
      const g = stack.pop()!;
      out.push({ open: g.open, close: i, kind: g.kind, depth: stack.length });
    }
  }
  return out;
}

/** `name` with the contents of the chosen groups replaced by "…" (outermost chosen group wins). */
function collapse(name: string, chosen: Group[]): string {
  const sorted = chosen.slice().sort((a, b) => a.open - b.open);
  let out = "", at = 0;
  for (const g of sorted) {
    if (g.open < at) continue; // inside a group already collapsed
    if (g.close - g.open <= 1) continue; // "()" or "<>": nothing to hide
    out += name.slice(at, g.open + 1) + ELLIPSIS;
    at = g.close;
  }
  return out + name.slice(at);
}

/**
 * `name` in at most `width` characters when it can be: the parameter list collapses first
 * (`(…)`), then template and generic arguments from the deepest level out (`<…>`), then the
 * leading qualifiers (`…::push_back(…)`). The function's own name is never cut.
 */
export function shortName(name: string, width = 80): string {
  if (name.length <= width) return name;
  let g = groups(name);
  // The parameter list: the last top-level ( ) group (C++), followed only by qualifiers.
  const params = g.filter((x) => x.kind === "(" && x.depth === 0).at(-1);
  let out = name;
  if (params && /^[\sA-Za-z&]*(\[clone [^\]]*\])?$/.test(name.slice(params.close + 1))) {
    out = collapse(name, [params]);
    if (out.length <= width) return out;
    g = groups(out);
  }
  // Template arguments, deepest first.
  const maxDepth = Math.max(-1, ...g.map((x) => x.depth));
  for (let depth = maxDepth; depth >= 0 && out.length > width; depth--) {
    const current = groups(out);
    const hide = current.filter((x) => x.kind === "<" && x.depth >= depth);
    // Rust `<Type as Trait>::f` and `<Type>::f` at the top: collapse inside, keep the brackets.
    out = collapse(out, hide.filter((x) => !(x.depth === 0 && x.open === 0)));
    if (depth === 0 && out.length > width && out.startsWith("<")) {
      const top = groups(out).find((x) => x.open === 0);
      if (top) out = "<" + ELLIPSIS + out.slice(top.close);
    }
  }
  // Leading qualifiers, one `::` component at a time, at top level only.
  const lead = ELLIPSIS + "::";
  while (out.length > width) {
    const body = out.startsWith(lead) ? out.slice(lead.length) : out;
    const cut = topLevelSeparator(body);
    if (cut < 0) break; // only the function's own name is left
    out = lead + body.slice(cut + 2);
  }
  return out;
}

/** Offset of the first `::` outside every bracket group, or -1. */
function topLevelSeparator(name: string): number {
  const g = groups(name);
  for (let i = name.indexOf("::"); i >= 0; i = name.indexOf("::", i + 2)) {
    if (!g.some((x) => x.open < i && i < x.close)) return i;
  }
  return -1;
}

/** "sessions.cpp:49" (basename, line, column when known); "" without a file. */
export function shortLocation(frame: StackFrame): string {
  if (!frame.file) return "";
  const base = frame.file.slice(frame.file.lastIndexOf("/") + 1);
  return frame.line ? `${base}:${frame.line}` : base;
}

/**
 * One line for a stack in a terminal: "make_tree(int) sessions.cpp:49, via 6 std:: frames".
 * The name is cut to `width` (the location and the via part come on top).
 */
export function stackLine(stack: readonly StackFrame[], width = 80): string {
  const u = userFrame(stack);
  if (!u) return "";
  const name = u.frame.function ? shortName(u.frame.function, width) : u.frame.pc;
  const where = shortLocation(u.frame);
  return [name + (where ? " " + where : ""), u.via].filter((s) => s !== "").join(", ");
}

/**
 * A type name for a terminal line: what a shared_ptr control block holds comes first
 * ("Session (std::make_shared)" for `std::_Sp_counted_ptr_inplace<Session, std::allocator<void>,
 * …>`), other names shortened like function names.
 */
export function typeLabel(name: string, width = 60): string {
  const m = /^std::_Sp_counted_ptr(?:_inplace)?<(.+)$/.exec(name);
  if (m) {
    // The first template argument, up to its comma at depth 0.
    let depth = 0, end = 0;
    const rest = m[1]!;
    for (; end < rest.length; end++) {
      const c = rest[end];
      if (c === "<" || c === "(") depth++;
      else if (c === ">" || c === ")") depth--;
      if ((c === "," && depth === 0) || depth < 0) break;
    }
    const held = rest.slice(0, end).trim().replace(/\*$/, "");
    const how = name.includes("_inplace") ? "std::make_shared" : "std::shared_ptr";
    return shortName(`${held} (${how})`, width);
  }
  return shortName(name, width);
}
