// One table component for every list of the report: sortable columns, a filter, virtualised rows
// (every row reachable, only the visible ones in the DOM), expandable rows, a roving tab index
// (one row in the tab order; arrows, PageUp/PageDown, Home/End move; Enter or Space activates;
// → and ← expand and collapse), and export of what it shows as CSV or JSON.

import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type ExportColumn, toCsv, toJson } from "../view/table_export.ts";
import { formatCount } from "../format.ts";

export interface Column<R> {
  key: string;
  label: string;
  /** Right-aligned, sorted numerically. */
  num?: boolean;
  /** Width in ch (the first text column takes what is left, at least this). */
  width: number;
  /** Left out below NARROW px (the card, the export and a wider window still have it). */
  wide?: boolean;
  /** Characters the cell adds to its value (icons, markers), for the column's width. */
  extra?: number;
  /** Header tooltip: what the column means (units, requested vs usable). */
  title?: string;
  /** Cell content. */
  cell: (row: R) => ComponentChildren;
  /** Raw value for sorting and export. */
  value: (row: R) => string | number | undefined;
  /** The text the cell shows when it is shorter than the value (widths are measured on it). */
  shown?: (row: R) => string;
}

export interface VirtualTableProps<R> {
  /** data-testid and export file name. */
  id: string;
  /** Accessible name of the table. */
  label: string;
  columns: Column<R>[];
  rows: readonly R[];
  rowKey: (row: R) => string;
  /** Children of an expandable row (a group's blocks). */
  subRows?: (row: R) => readonly R[] | undefined;
  /** A row was activated (click, Enter, Space). */
  onActivate?: (row: R) => void;
  /** Key of the selected row (aria-selected, highlighted). */
  selected?: string | null;
  /** Initial sort: column key and direction. */
  sort?: { key: string; desc: boolean };
  /** Rows shown before scrolling (the table scrolls inside beyond that). */
  visibleRows?: number;
  /** A row's extra class ("leaked", "cycle"). */
  rowClass?: (row: R) => string;
}

/** Row height in CSS pixels: one line of 13 px text with padding (rows never wrap). */
export const ROW_HEIGHT = 28;
/** Widest text column in ch: C++ names are shortened to 80 characters before they get here. */
const MAX_TEXT_CH = 96;
/** Rows rendered above and below the visible ones, so that fast scrolling shows no gap. */
const OVERSCAN = 8;

interface Flat<R> {
  row: R;
  level: number;
  key: string;
  expandable: boolean;
  expanded: boolean;
}

/** CSS pixels per `ch` of the table's 13 px text, and between columns: to see what fits. */
const CH_PX = 7.6, GAP_PX = 16;

export function VirtualTable<R>(props: VirtualTableProps<R>) {
  const { rowKey } = props;
  // The `wide` columns are left out when the table's box cannot hold every column (an 800 px
  // window, the column beside the card): no sideways scrolling for the columns that matter.
  const box = useRef<HTMLDivElement>(null);
  const [room, setRoom] = useState(Infinity);
  useEffect(() => {
    const el = box.current!;
    const observer = new ResizeObserver(() => setRoom(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const allWidths = useMemo(() => _widths(props.columns, props.rows, props.subRows), [
    props.columns,
    props.rows,
  ]);
  const columns = useMemo(() => {
    const need = allWidths.reduce((a, w) => a + w * CH_PX + GAP_PX, GAP_PX);
    return need > room ? props.columns.filter((c) => !c.wide) : props.columns;
  }, [props.columns, allWidths, room]);
  const [sort, setSort] = useState(props.sort ?? null);
  const [filter, setFilter] = useState("");
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const [focus, setFocus] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const body = useRef<HTMLDivElement>(null);
  // The row a key press moved to, until a render that shows it has focused it.
  const focusRow = useRef<number | null>(null);

  const sorted = useMemo(() => {
    const by = sort ? columns.find((c) => c.key === sort.key) : undefined;
    const order = (list: readonly R[]): R[] => {
      if (!by) return list.slice();
      const dir = sort!.desc ? -1 : 1;
      return list.slice().sort((a, b) => {
        const x = by.value(a), y = by.value(b);
        if (x === y) return 0;
        if (x === undefined) return 1;
        if (y === undefined) return -1;
        return (typeof x === "number" && typeof y === "number"
          ? x - y
          : String(x).localeCompare(String(y))) * dir;
      });
    };
    return { order };
  }, [columns, sort]);

  const flat = useMemo(
    () =>
      _flatten(props.rows, {
        text: (r) => columns.map((c) => String(c.value(r) ?? "")).join("\u0001").toLowerCase(),
        needle: filter.trim().toLowerCase(),
        order: sorted.order,
        rowKey,
        subRows: props.subRows,
        open: (key) => expanded.has(key),
      }),
    [props.rows, sorted, filter, expanded, columns],
  );

  const visibleRows = props.visibleRows ?? 14;
  const height = Math.min(flat.length, visibleRows) * ROW_HEIGHT;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(flat.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const at = Math.min(focus, Math.max(0, flat.length - 1));

  // Keep the focused row rendered and, after a key press, focused: by the render that has the new
  // position. An earlier render's effect can still be pending when the key comes (Preact runs
  // effects after the paint): it must not take the request and focus its own, older row.
  const focusAt = (pos: number) =>
    body.current?.querySelector<HTMLElement>(`[data-pos="${pos}"]`)?.focus({ preventScroll: true });
  useEffect(() => {
    if (focusRow.current !== focus) return;
    focusRow.current = null;
    focusAt(at);
  });

  const moveTo = (pos: number) => {
    const p = Math.max(0, Math.min(flat.length - 1, pos));
    if (p !== focus) {
      setFocus(p);
      focusRow.current = p;
    } else {
      // No new position, so no render to wait for: the row is on screen (the focused one is kept).
      focusRow.current = null;
      focusAt(p);
    }
    const el = body.current;
    if (el) {
      const top = p * ROW_HEIGHT;
      if (top < el.scrollTop) el.scrollTop = top;
      else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight) {
        el.scrollTop = top + ROW_HEIGHT - el.clientHeight;
      }
      setScrollTop(el.scrollTop);
    }
  };
  const toggle = (f: Flat<R>, open?: boolean) => {
    if (!f.expandable) return;
    const next = new Set(expanded);
    if (open ?? !f.expanded) next.add(f.key);
    else next.delete(f.key);
    setExpanded(next);
  };
  const activate = (f: Flat<R>) => {
    toggle(f);
    props.onActivate?.(f.row);
  };
  const onKey = (e: KeyboardEvent, pos: number) => {
    const f = flat[pos];
    if (!f) return;
    const page = Math.max(1, visibleRows - 1);
    const keys: Record<string, () => void> = {
      ArrowDown: () => moveTo(pos + 1),
      ArrowUp: () => moveTo(pos - 1),
      PageDown: () => moveTo(pos + page),
      PageUp: () => moveTo(pos - page),
      Home: () => moveTo(0),
      End: () => moveTo(flat.length - 1),
      Enter: () => activate(f),
      " ": () => activate(f),
      ArrowRight: () => toggle(f, true),
      ArrowLeft: () => {
        if (f.expandable && f.expanded) toggle(f, false);
        else if (f.level > 0) {
          let p = pos;
          while (p > 0 && flat[p]!.level >= f.level) p--;
          moveTo(p);
        }
      },
    };
    const run = keys[e.key];
    if (run) {
      e.preventDefault();
      e.stopPropagation();
      run();
    }
  };

  const exportAs = (kind: "csv" | "json") => {
    const cols: ExportColumn<Flat<R>>[] = [
      ...(props.subRows ? [{ key: "level", label: "level", value: (f: Flat<R>) => f.level }] : []),
      ...props.columns.map((c) => ({
        key: c.key,
        label: c.label,
        value: (f: Flat<R>) => c.value(f.row),
      })),
    ];
    // Every row the filter keeps, every level open: what the table can show, not only the window.
    const all = _flatten(props.rows, {
      text: (r) => columns.map((c) => String(c.value(r) ?? "")).join("\u0001").toLowerCase(),
      needle: filter.trim().toLowerCase(),
      order: sorted.order,
      rowKey,
      subRows: props.subRows,
      open: () => true,
    });
    const text = kind === "csv" ? toCsv(cols, all) : toJson(cols, all);
    const url = URL.createObjectURL(
      new Blob([text], { type: kind === "csv" ? "text/csv" : "application/json" }),
    );
    const a = document.createElement("a");
    a.href = url;
    a.download = `heapscope-${props.id}.${kind}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  // Text columns as wide as their longest value (rows never wrap and nothing is cut), at most
  // MAX_TEXT_CH; the table scrolls sideways inside its card when the screen is narrower.
  const widths = useMemo(() => columns.map((c) => allWidths[props.columns.indexOf(c)]!), [
    columns,
    allWidths,
  ]);
  const template = widths.map((w, i) => i === 0 ? `minmax(${w}ch, 1fr)` : `${w}ch`).join(" ");
  const minWidth = `calc(${widths.reduce((s, w) => s + w, 0)}ch + ${columns.length * 16 + 16}px)`;
  return (
    <div class="vtable" data-testid={props.id} ref={box}>
      <div class="vtable-tools">
        <input
          type="search"
          class="filter"
          placeholder="Filter…"
          aria-label={`Filter ${props.label}`}
          value={filter}
          onInput={(e) => {
            setFilter((e.currentTarget as HTMLInputElement).value);
            setFocus(0);
            focusRow.current = null; // typing keeps the focus in the filter
          }}
        />
        <span class="muted small" aria-live="polite">
          {formatCount(flat.length)} row{flat.length === 1 ? "" : "s"}
        </span>
        <button type="button" class="small-button" onClick={() => exportAs("csv")}>
          CSV
        </button>
        <button type="button" class="small-button" onClick={() => exportAs("json")}>
          JSON
        </button>
      </div>
      <div class="vtable-scroll">
        <div
          role="treegrid"
          aria-label={props.label}
          aria-rowcount={flat.length + 1}
          class="vtable-grid"
          style={{ minWidth }}
        >
          <div
            role="row"
            class="vrow head"
            style={{ gridTemplateColumns: template }}
            aria-rowindex={1}
          >
            {columns.map((c) => {
              const on = sort?.key === c.key;
              return (
                <div
                  role="columnheader"
                  key={c.key}
                  class={c.num ? "num" : ""}
                  aria-sort={on ? (sort!.desc ? "descending" : "ascending") : "none"}
                >
                  <button
                    type="button"
                    class="sort"
                    title={c.title ?? `Sort by ${c.label}`}
                    onClick={() => setSort({ key: c.key, desc: on ? !sort!.desc : c.num === true })}
                  >
                    {c.label}
                    <span aria-hidden="true">{on ? (sort!.desc ? " ▾" : " ▴") : ""}</span>
                  </button>
                </div>
              );
            })}
          </div>
          <div
            ref={body}
            class="vtable-body"
            style={{ height: `${height}px` }}
            onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
          >
            <div style={{ height: `${flat.length * ROW_HEIGHT}px`, position: "relative" }}>
              {flat.slice(first, last).map((f, k) => {
                const pos = first + k;
                const selected = props.selected === f.key;
                return (
                  <div
                    role="row"
                    key={f.key + ":" + f.level}
                    data-pos={pos}
                    data-key={f.key}
                    aria-rowindex={pos + 2}
                    aria-level={f.level + 1}
                    aria-expanded={f.expandable ? f.expanded : undefined}
                    aria-selected={selected}
                    tabIndex={pos === at ? 0 : -1}
                    class={`vrow level${Math.min(f.level, 1)}${selected ? " selected" : ""} ${
                      props.rowClass?.(f.row) ?? ""
                    }`}
                    style={{ top: `${pos * ROW_HEIGHT}px`, gridTemplateColumns: template }}
                    onClick={() => {
                      setFocus(pos);
                      activate(f);
                    }}
                    onKeyDown={(e) => onKey(e, pos)}
                    onFocus={() => setFocus(pos)}
                  >
                    {columns.map((c, i) => (
                      <div role="gridcell" key={c.key} class={c.num ? "num" : ""}>
                        {i === 0 && (props.subRows
                          ? (
                            <span class="caret" aria-hidden="true">
                              {"  ".repeat(f.level)}
                              {f.expandable ? (f.expanded ? "▾ " : "▸ ") : f.level ? "· " : "  "}
                            </span>
                          )
                          : null)}
                        {c.cell(f.row)}
                      </div>
                    ))}
                  </div>
                );
              })}
            </div>
          </div>
        </div>
      </div>
      {flat.length === 0 && <p class="muted small">No rows{filter ? " match the filter" : ""}.</p>}
    </div>
  );
}

/** Each column's width in ch: its own, or its longest text value (at most MAX_TEXT_CH). */
function _widths<R>(
  columns: Column<R>[],
  rows: readonly R[],
  subRows: ((row: R) => readonly R[] | undefined) | undefined,
): number[] {
  const w = columns.map((c) => c.width);
  const measure = (r: R) => {
    columns.forEach((c, i) => {
      if (c.num) return;
      const len = String((c.shown ?? c.value)(r) ?? "").length + (c.extra ?? 0);
      if (len > w[i]!) w[i] = Math.min(MAX_TEXT_CH, len);
    });
  };
  for (const r of rows) {
    measure(r);
    for (const k of subRows?.(r) ?? []) measure(k);
  }
  return w;
}

/** Levels of sub-rows shown at most (a dominator tree can be as deep as a list is long). */
const MAX_LEVELS = 8;

/**
 * The rows in display order: each row, then (when open) its sub-rows, recursively. With a filter,
 * a row stays when it or a row under it matches, and opens to show the match. O(rows shown).
 */
function _flatten<R>(
  rows: readonly R[],
  o: {
    text: (r: R) => string;
    needle: string;
    order: (list: readonly R[]) => R[];
    rowKey: (r: R) => string;
    subRows: ((r: R) => readonly R[] | undefined) | undefined;
    open: (key: string) => boolean;
  },
): Flat<R>[] {
  const out: Flat<R>[] = [];
  const matches = (r: R, level: number): boolean =>
    !o.needle || o.text(r).includes(o.needle) ||
    (level < MAX_LEVELS && (o.subRows?.(r) ?? []).some((k) => matches(k, level + 1)));
  const walk = (list: readonly R[], level: number) => {
    for (const row of o.order(list)) {
      if (!matches(row, level)) continue;
      const key = o.rowKey(row);
      const kids = level < MAX_LEVELS ? o.subRows?.(row) : undefined;
      const own = !o.needle || o.text(row).includes(o.needle);
      const open = (kids?.length ?? 0) > 0 && (o.open(key) || !own);
      out.push({ row, level, key, expandable: (kids?.length ?? 0) > 0, expanded: open });
      if (open) walk(kids!, level + 1);
    }
  };
  walk(rows, 0);
  return out;
}
