// Public surface of the report's view layer: pure selectors from a LeaksFile to one payload per view.
export type * from "./payload.ts";
export { type Adjacency, buildAdjacency } from "./adjacency.ts";
export {
  blockAddress,
  type BlockIndex,
  blockStatus,
  buildBlockIndex,
  decodeBlockIndex,
  encodeBlockIndex,
  findBlocks,
} from "./block_index.ts";
export { selectCycles } from "./cycles.ts";
export { flameFrameName, selectFlame } from "./flame.ts";
export { selectGraph } from "./graph.ts";
export { selectHeader } from "./header.ts";
export { heldByDirect } from "./held.ts";
export { type HeapMap, MAP_CLASSES, selectHeapMap } from "./heap_map.ts";
export { hexdump } from "./hexdump.ts";
export { layoutGraph } from "./layout.ts";
export { selectLeakGroups } from "./leak_groups.ts";
export { selectMethod } from "./method.ts";
export { indexNode, type Neighbourhood, selectNeighbourhood } from "./neighbourhood.ts";
export {
  type DetailContext,
  type EdgeRow,
  type NodeDetail,
  type NodeStack,
  type PathStep,
  selectNodeDetail,
  statusLabel,
} from "./node_detail.ts";
export { selectReportModel } from "./report_model.ts";
export { selectRetainers } from "./retainers.ts";
export { rootLabel, selectRoots } from "./roots.ts";
export { frameLocation, siteLabels, siteText } from "./site_label.ts";
export { compareSiteRows, selectSites } from "./sites.ts";
export { SIZE_CLASSES, sizeClassOf } from "./size_class.ts";
export { selectStats } from "./stats.ts";
export { type ExportColumn, toCsv, toJson } from "./table_export.ts";
export { selectTimeline } from "./timeline.ts";
export { selectTypes } from "./types_table.ts";
export {
  matchesFilter,
  normalizeAddressQuery,
  selectVisible,
  type ViewState,
  type Visible,
} from "./visible.ts";
export { selectZones } from "./zones.ts";
