// Demangles C++ (Itanium), Rust legacy and Rust v0 symbol names with one well-kept demangler.
//
// The demangler is gecko-profiler-demangle (npm), the Firefox profiler's WebAssembly build of the
// Rust crates cpp_demangle and rustc-demangle: one ~0.5 MB module, no dependencies, no network,
// loads in Deno from node_modules (package.json pins it; `npm install` fetches it once, offline
// after that). Rust legacy names lose their `::h<hash>` suffix (as
// rustfilt and Rust's own backtraces print them); C++ names print as c++filt prints them.
//
// Use: `await loadDemangler()` once (it compiles the module, ~15 ms), then `demangle()` is
// synchronous. Only names that look mangled (`_Z…`, `_R…`, with an `@plt`/`@VERSION` suffix kept
// aside) reach the demangler: it also strips one leading underscore from names it does not
// recognise (`__rust_alloc` came back as `_rust_alloc`), so anything it fails on stays as it was.
// O(length of the name) per call.

type DemangleAny = (name: string) => string;

let demangleAny: DemangleAny | undefined;
let loading: Promise<void> | undefined;

/** The demangler's npm package and the version the results were checked against. */
export const DEMANGLER_PACKAGE = "gecko-profiler-demangle@0.4.0";

/** Loads the demangler; safe to call any number of times and concurrently. */
export function loadDemangler(): Promise<void> {
  loading ??= import("gecko-profiler-demangle").then(
    (m: { demangle_any: DemangleAny }) => {
      demangleAny = m.demangle_any;
    },
    (e) => {
      loading = undefined;
      throw new Error(
        `Cannot load the symbol demangler ${DEMANGLER_PACKAGE}: ${(e as Error).message}\n` +
          "Hint: run `npm install` in the heapscope checkout (package.json lists it)",
      );
    },
  );
  return loading;
}

/** Whether `loadDemangler()` has finished, so `demangle()` may be called. */
export function demanglerLoaded(): boolean {
  return demangleAny !== undefined;
}

/** Whether `name` looks like an Itanium C++ or Rust (legacy or v0) mangled name. */
export function isMangled(name: string): boolean {
  return /^_[ZR][0-9A-Za-z_]/.test(name);
}

/**
 * The demangled form of a C++ or Rust symbol; any other name unchanged. A linker suffix after `@`
 * (`@plt`, `@GLIBC_2.2.5`) is kept. Throws when `loadDemangler()` has not finished.
 */
export function demangle(name: string): string {
  if (!isMangled(name)) return name;
  if (!demangleAny) {
    throw new Error(
      `Cannot demangle ${JSON.stringify(name)}: the demangler is not loaded\n` +
        "Hint: await loadDemangler() once before calling demangle()",
    );
  }
  const at = name.indexOf("@");
  const symbol = at < 0 ? name : name.slice(0, at);
  const suffix = at < 0 ? "" : name.slice(at);
  let out: string;
  try {
    out = demangleAny(symbol);
  } catch {
    return name; // a panic inside the module on a hostile name: keep the name
  }
  // Unrecognised names come back with their first underscore removed (see the header).
  if (out === symbol.slice(1) || out === "") return name;
  return out + suffix;
}
