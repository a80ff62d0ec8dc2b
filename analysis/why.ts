// Why is a block alive: the shortest path from a named root, its owners to any depth, the roots
// that reach it (anchors), over one model built from a live analysis or a saved leaks.json.
//
// The path is the breadth-first search tree's (`via`): a shortest chain from a root. Owners are the
// blocks that point at it, by reverse breadth-first search to depth N; with no depth limit, only
// owners some root reaches are kept (a leaked cycle that points at a block does not keep it alive).
// Anchors are the roots that reach it: the named roots of every owner a reverse search meets.
// O(V + E) per question at worst; the reverse edges are built once, O(E).

import { lastAtOrBelow } from "./sorted.ts";

export interface WhyEdge {
  /** The other end (source for owners, target for references). */
  node: number;
  /** Byte offset of the pointer in the source block. */
  offset: number;
  interior?: boolean;
  /** Weak evidence (EDGE_WEAK): the word may be stale. */
  weak?: boolean;
}

/** What `why` needs to know about a heap, whatever it was read from. Node ids are dense. */
export interface WhyModel {
  count: number;
  address(i: number): number;
  size(i: number): number;
  /** "reachable" | "possible" | "leaked" | "cycle". */
  status(i: number): string;
  /** "direct" | "indirect" for leaked blocks. */
  leak(i: number): string | undefined;
  typeName(i: number): string | undefined;
  /** BFS retainer: a node id, -1 when a root holds it directly, -2 when none. */
  via(i: number): number;
  /** The names of the roots that hold it directly (first is the one the path starts from). */
  rootNames(i: number): string[];
  /** Outgoing references (what the block points at). */
  references(i: number): WhyEdge[];
  retained?(i: number): { bytes: number; blocks?: number } | undefined;
  idom?(i: number): number;
  /** The block's bytes (all, or the first few a leaks.json kept). */
  bytes?(i: number): Uint8Array | undefined;
  /**
   * The rule that makes weak the word of its holder through which the search reached block i
   * (analysis/slack_rules.ts weakReason; Analysis.weakLinks, leaks.json's `weakLink`).
   */
  weakLink?(i: number): string | undefined;
  /** A name for a word that points outside the heap (a symbol), when the model knows images. */
  symbolAt?(address: number): string | undefined;
}

export interface PathStep {
  node: number;
  /** Offset of the pointer to this step inside the previous block (undefined for the first). */
  offset?: number;
  /** The pointer is weak evidence (the word may be stale). */
  weak?: boolean;
  /** Which rule makes that word weak, when the input knows (WhyModel.weakLink). */
  reason?: string;
}

/** The block at or containing `address` (exact start first), or -1. O(log V). */
export function blockAt(m: WhyModel, address: number): number {
  const found = lastAtOrBelow(m.count, (i) => m.address(i), address);
  if (found < 0) return -1;
  return address < m.address(found) + Math.max(1, m.size(found)) ? found : -1;
}

/**
 * The root that holds the start of the path, then each block to `v` with its offset; `weakRoot`
 * when only weak evidence (a vector register, the red zone below SP) holds the first block.
 */
export function pathFromRoot(
  m: WhyModel,
  v: number,
): { root?: string; weakRoot?: boolean; steps: PathStep[] } {
  const chain: number[] = [];
  const seen = new Set<number>();
  for (let x = v; x >= 0 && !seen.has(x); x = m.via(x)) {
    seen.add(x);
    chain.push(x);
  }
  chain.reverse();
  const first = chain[0]!;
  if (m.via(first) !== -1) return { steps: [] }; // not reached from a root
  const steps: PathStep[] = [{ node: first }];
  for (let k = 1; k < chain.length; k++) {
    const from = chain[k - 1]!, to = chain[k]!;
    // The search's own edge: a strong one where there is one (reachable blocks are reached only
    // through strong ones; a weak one is the link that makes a block "possible").
    const refs = m.references(from).filter((r) => r.node === to);
    const e = refs.find((r) => !r.weak) ?? refs[0];
    const step: PathStep = { node: to };
    if (e) step.offset = e.offset;
    if (e?.weak) {
      step.weak = true;
      const reason = m.via(to) === from ? m.weakLink?.(to) : undefined;
      if (reason) step.reason = reason;
    }
    steps.push(step);
  }
  // A root holds a possible block directly only through weak evidence (a strong root reference
  // would make it reachable).
  const weakRoot = m.status(first) === "possible";
  return { root: m.rootNames(first)[0] ?? "a root", ...(weakRoot ? { weakRoot } : {}), steps };
}

/** Reverse edges of the whole model, built once. O(E). */
export class Owners {
  #start: Uint32Array;
  #source: Uint32Array;
  #offset: Uint32Array;

  constructor(readonly model: WhyModel) {
    const n = model.count;
    const count = new Uint32Array(n + 1);
    const all: { s: number; t: number; o: number }[] = [];
    for (let s = 0; s < n; s++) {
      for (const e of model.references(s)) {
        all.push({ s, t: e.node, o: e.offset });
        count[e.node + 1]!++;
      }
    }
    for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
    this.#start = count;
    this.#source = new Uint32Array(all.length);
    this.#offset = new Uint32Array(all.length);
    const fill = count.slice(0, n);
    for (const { s, t, o } of all) {
      const k = fill[t]!++;
      this.#source[k] = s;
      this.#offset[k] = o;
    }
  }

  /** The blocks pointing at `v`, with the offset inside each. */
  of(v: number): WhyEdge[] {
    const out: WhyEdge[] = [];
    for (let k = this.#start[v]!; k < this.#start[v + 1]!; k++) {
      out.push({ node: this.#source[k]!, offset: this.#offset[k]! });
    }
    return out;
  }

  /**
   * Owners of `v` to `depth` levels (-1: all the way back to the roots), as a tree by levels:
   * level 1 are its direct owners. With depth -1, owners no root reaches are left out (a leaked
   * cycle pointing at a block does not keep it alive) unless `v` itself is leaked. O(V + E).
   */
  tree(v: number, depth: number): { node: number; owner: number; offset: number; level: number }[] {
    const out: { node: number; owner: number; offset: number; level: number }[] = [];
    const seen = new Set<number>([v]);
    const keepLeaked = depth >= 0 || this.model.status(v) !== "reachable";
    let frontier = [v];
    for (let level = 1; frontier.length > 0 && (depth < 0 || level <= depth); level++) {
      const next: number[] = [];
      for (const x of frontier) {
        for (const e of this.of(x)) {
          if (seen.has(e.node)) continue;
          if (!keepLeaked && this.model.status(e.node) !== "reachable") continue;
          seen.add(e.node);
          out.push({ node: e.node, owner: x, offset: e.offset, level });
          next.push(e.node);
        }
      }
      frontier = next;
    }
    return out;
  }

  /** The roots that reach `v`: each root-held ancestor's root names, nearest first. O(V + E). */
  anchors(v: number): { root: string; node: number; level: number }[] {
    const out: { root: string; node: number; level: number }[] = [];
    const names = new Set<string>();
    const visit = (x: number, level: number) => {
      for (const root of this.model.rootNames(x)) {
        if (names.has(root)) continue;
        names.add(root);
        out.push({ root, node: x, level });
      }
    };
    visit(v, 0);
    for (const o of this.tree(v, -1)) visit(o.node, o.level);
    return out;
  }
}

/** Blocks whose type name matches `re`, in address order (at most `max`). O(V). */
export function findByType(m: WhyModel, re: RegExp, max = 1000): number[] {
  const out: number[] = [];
  for (let i = 0; i < m.count && out.length < max; i++) {
    const t = m.typeName(i);
    if (t !== undefined && re.test(t)) out.push(i);
  }
  return out;
}
