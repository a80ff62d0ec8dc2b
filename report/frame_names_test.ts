// Tests of the terminal frame names on real stacks: the C++ and Rust test programs
// (tests/symbols/, `make symbols-programs`) recorded by `./heapscope run`, plus tricky names.

import assert from "node:assert/strict";
import { classifyFrame, shortName, stackLine, userFrame } from "./frame_names.ts";
import type { StackFrame } from "../analysis/sites.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Line of the `LINE <tag>` marker comment in a test program. */
function markerLine(file: string, tag: string): number {
  const lines = Deno.readTextFileSync(`${ROOT}tests/symbols/${file}`).split("\n");
  const i = lines.findIndex((l) => l.includes(`/* LINE ${tag} */`));
  assert.ok(i >= 0, `no LINE ${tag} in ${file}`);
  return i + 1;
}

/** The recorded stacks of one run of a test program under `./heapscope run`. */
async function recordedStacks(program: string): Promise<StackFrame[][]> {
  const make = await new Deno.Command("make", {
    args: ["-s", "-C", ROOT, "symbols-programs"],
    stderr: "piped",
  }).output();
  assert.ok(make.success, new TextDecoder().decode(make.stderr));
  const dir = await Deno.makeTempDir({ prefix: "heapscope-frames-" });
  try {
    const out = await new Deno.Command(`${ROOT}heapscope`, {
      args: ["run", "-q", "-o", `${dir}/leaks.json`, "--", `${ROOT}build/symbols/${program}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    // 1: leaks found (the programs leak on purpose); an uncaught error exits 1 too.
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, err);
    const text = await Deno.readTextFile(`${dir}/leaks.json`).catch(() => {
      throw new Error(`heapscope run ${program} wrote no leaks.json; it said:\n${err}`);
    });
    return JSON.parse(text).stacks;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("userFrame() finds the C++ program's own frames under libstdc++'s", async () => {
  const stacks = await recordedStacks("sessions-bfd");
  const lines = stacks.map((s) => stackLine(s, 60));
  const file = `${ROOT}tests/symbols/sessions.cpp`;
  // The tree: operator new then make_tree; the allocator entry is not worth a "via".
  const tree = stacks.find((s) => s[1]?.function === "shop::make_tree(int)")!;
  const u = userFrame(tree)!;
  assert.equal(u.frame.function, "shop::make_tree(int)");
  assert.equal(u.frame.file, file);
  assert.equal(u.frame.line, markerLine("sessions.cpp", "make_tree"));
  assert.equal(u.via, "");
  assert.equal(classifyFrame(tree[0]!), "allocator");
  assert.equal(classifyFrame(tree.at(-1)!), "runtime"); // _start
  // vector growth in operator+=: five std:: frames folded.
  const add = lines.find((l) =>
    l.startsWith("shop::Basket<std::pair<long, double>, 8>::operator+=")
  );
  assert.equal(
    add,
    `shop::Basket<std::pair<long, double>, 8>::operator+=(…) sessions.cpp:${
      markerLine("sessions.cpp", "operator+=")
    }, via 5 std:: frames`,
  );
  // The map insertion inlined into the lambda: the lambda is the user's frame.
  const map = stacks.find((s) => s.some((f) => f.function?.startsWith("std::map<")))!;
  const m = userFrame(map)!;
  assert.equal(m.frame.function, "operator()");
  assert.equal(m.frame.line, markerLine("sessions.cpp", "lambda") + 1);
  assert.match(m.via, /^via \d+ std:: frames$/);
  // Every line fits: names of up to ~900 characters are cut to 60.
  for (const s of stacks) {
    for (const f of s) {
      if (f.function) assert.ok(shortName(f.function, 60).length <= 60, f.function);
    }
  }
});

Deno.test("userFrame() finds the Rust program's own frames under alloc::", async () => {
  for (const program of ["sessions-rs-legacy", "sessions-rs-v0"]) {
    const stacks = await recordedStacks(program);
    const tree = stacks.find((s) => s.some((f) => f.function === "sessions::make_tree"))!;
    const u = userFrame(tree)!;
    assert.equal(u.frame.function, "sessions::make_tree", program);
    assert.equal(u.frame.line, markerLine("sessions.rs", "make_tree"));
    assert.match(u.via, /^via \d+ alloc:: frames$/, program);
    // The leaked Rc cycle, made in main through Rc::new.
    const rc = stacks.find((s) =>
      s.some((f) => /^<?alloc::rc::Rc<.*>>?::new$/.test(f.function ?? ""))
    );
    const r = userFrame(rc!)!;
    assert.equal(r.frame.function, "sessions::main", program);
    assert.match(r.via, /^via \d+ alloc:: frames$/);
    // Rust's start-up is the runtime, not the user's code.
    for (const s of stacks) {
      for (const f of s) {
        if (/^std::rt::lang_start/.test(f.function ?? "")) {
          assert.equal(classifyFrame(f), "runtime");
        }
      }
    }
    // Allocations made by std itself (its stack-overflow handler's thread info) have no user
    // frame: the first library frame stands for it.
    const own = stacks.find((s) => s.some((f) => /stack_overflow/.test(f.function ?? "")));
    if (own) assert.equal(classifyFrame(userFrame(own)!.frame), "library");
  }
});

Deno.test("shortName() collapses parameters, then templates from the inside, then qualifiers", () => {
  const rb =
    "std::_Rb_tree<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::pair<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const, int>, std::_Select1st<std::pair<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const, int> >, std::less<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > >, std::allocator<std::pair<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const, int> > >::_M_get_node()";
  assert.equal(shortName(rb, 80), "std::_Rb_tree<…>::_M_get_node()");
  assert.equal(shortName("shop::make_tree(int)", 80), "shop::make_tree(int)");
  assert.equal(shortName("shop::make_tree(int, long, char const*)", 20), "shop::make_tree(…)");
  assert.equal(
    shortName(
      "std::vector<std::pair<long, double>, std::allocator<std::pair<long, double> > >::push_back(std::pair<long, double> const&)",
      60,
    ),
    "std::vector<std::pair<…>, std::allocator<…> >::push_back(…)",
  );
  // Operators are names, not brackets.
  assert.equal(
    shortName("bool operator< <int>(Foo<int> const&, Foo<int> const&)", 30),
    "bool operator< <int>(…)",
  );
  assert.equal(
    shortName(
      "std::ostream& std::operator<< <std::char_traits<char> >(std::ostream&, char const*)",
      50,
    ),
    "std::ostream& std::operator<< <…>(…)",
  );
  assert.equal(shortName("ns::Widget::operator->() const", 10), "…::operator->() const");
  assert.equal(
    shortName("ns::Widget::operator()(int) const [clone .cold]", 30),
    "…::operator()(…) const [clone .cold]",
  );
  // Lambdas keep their braces; Rust `<Type as Trait>::f` keeps its shape.
  assert.equal(
    shortName(
      "shop::Basket<std::pair<long, double>, 8>::each<main::{lambda(int)#1}>(main::{lambda(int)#1})",
      40,
    ),
    "shop::Basket<…>::each<…>(…)",
  );
  assert.equal(
    shortName(
      "<alloc::collections::btree::node::NodeRef<alloc::collections::btree::node::marker::Owned, usize, u64, alloc::collections::btree::node::marker::Leaf>>::new_leaf::<alloc::alloc::Global>",
      60,
    ),
    "<alloc::collections::btree::node::NodeRef<…>>::new_leaf::<…>",
  );
  assert.equal(
    shortName("<alloc::alloc::Global as core::alloc::Allocator>::allocate", 30),
    "<…>::allocate",
  );
  // Rust's `fn() -> T` inside generics is not a bracket.
  assert.equal(
    shortName("core::ops::function::FnOnce<fn() -> i32>::call_once", 30),
    "…::FnOnce<…>::call_once",
  );
  // Unbalanced input does not throw and still gets shorter when it can.
  assert.ok(shortName("a::b<c::d(e::f", 5).length > 0);
});

Deno.test("classifyFrame() tells allocator, library, runtime, recorder and user frames apart", () => {
  const f = (fn: string, image = "/bin/prog", file?: string): StackFrame => ({
    pc: "0x1",
    function: fn,
    image,
    ...(file ? { file } : {}),
  });
  assert.equal(classifyFrame(f("malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6")), "allocator");
  assert.equal(classifyFrame(f("__rust_alloc")), "allocator");
  assert.equal(classifyFrame(f("operator new[](unsigned long)")), "allocator");
  assert.equal(
    classifyFrame(f("std::__new_allocator<int>::allocate(unsigned long, void const*)")),
    "library",
  );
  assert.equal(
    classifyFrame(f("<alloc::alloc::Global as core::alloc::Allocator>::allocate")),
    "library",
  );
  assert.equal(classifyFrame(f("hashbrown::raw::RawTable<u8>::reserve_rehash")), "library");
  assert.equal(
    classifyFrame(f("__libc_start_call_main", "/usr/lib/x86_64-linux-gnu/libc.so.6")),
    "runtime",
  );
  assert.equal(classifyFrame(f("record", "/work/build/librecorder.so")), "recorder");
  assert.equal(
    classifyFrame(f("operator()", "/bin/prog", "/usr/include/c++/12/bits/stl_map.h")),
    "library",
  );
  assert.equal(classifyFrame(f("main")), "user");
  assert.equal(classifyFrame(f("my::stdlib::thing")), "user");
  assert.equal(classifyFrame({ pc: "0x1" }), "user");
  assert.equal(userFrame([]), undefined);
});
