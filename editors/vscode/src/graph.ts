// The reference graph of one object, from `reflens.live.inspect`: the chain of references from
// a root down to it, and its referrers, laid out left to right and drawn as SVG. Drawn here,
// not in the webview: the webview gets static SVG and runs no script. No `vscode` import.

export type ReferrerKind =
  | 'global'
  | 'local'
  | 'frame'
  | 'listItem'
  | 'tupleItem'
  | 'dictValue'
  | 'dictKey'
  | 'setMember'
  | 'attribute'
  | 'classAttribute'
  | 'closureCell'
  | 'boundMethod'
  | 'function'
  | 'other';

export interface Referrer {
  kind: ReferrerKind | string;
  description: string;
  type: string;
  count: number;
}

export interface ChainStep {
  kind: ReferrerKind | string;
  description: string;
  type: string;
}

/** `ObjectFacts` in server/reflens_protocol/src/lib.rs. */
export interface ObjectFacts {
  expression: string;
  scope: string;
  type: string;
  repr: string;
  refcount: number | null;
  immortal?: boolean;
  referrers: Referrer[];
  chain: ChainStep[];
  size: number;
  deep_size: number;
  retained_size: number;
  in_cycle: boolean;
  uncollectable: boolean;
  weakrefable: boolean;
  tensor?: {
    device: string;
    dtype: string;
    shape: number[];
    bytes: number;
    requires_grad: boolean;
    has_grad_fn: boolean;
    cuda_memory_allocated?: number | null;
  } | null;
  heap?: { objects: number; edges: number; index_ms: number; query_ms: number };
}

export type NodeRole = 'root' | 'chain' | 'object' | 'referrer';

export interface GraphNode {
  id: string;
  role: NodeRole;
  /** First line (bold). */
  label: string;
  /** Second line. */
  detail: string;
  /** Everything, for the tooltip. */
  tooltip: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  label: string;
  role: 'chain' | 'referrer';
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Node ids of the chain, root first, ending with the object. */
  chain: string[];
  /** Node ids of the referrers. */
  referrers: string[];
  object: string;
}

/** `builtins.list` → `list`, `app.models.Session` → `Session`. */
export function shortType(type: string): string {
  const clean = type.startsWith('builtins.') ? type.slice('builtins.'.length) : type;
  const dot = clean.lastIndexOf('.');
  return dot >= 0 ? clean.slice(dot + 1) : clean;
}

const KIND_WORDS: Record<string, string> = {
  global: 'global',
  local: 'local',
  frame: 'frame',
  listItem: 'list item',
  tupleItem: 'tuple item',
  dictValue: 'dict value',
  dictKey: 'dict key',
  setMember: 'set member',
  attribute: 'attribute',
  classAttribute: 'class attribute',
  closureCell: 'closure cell',
  boundMethod: 'bound method',
  function: 'function',
  other: 'reference',
};

export function kindWords(kind: string): string {
  return KIND_WORDS[kind] ?? kind;
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${count} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function refcountText(facts: ObjectFacts): string {
  return facts.refcount === null || facts.refcount === undefined ? 'immortal' : plural(facts.refcount, 'ref');
}

/** The graph of an object's facts. The chain's steps each say how the next object is reached
 *  (`module app`, then `global registry`, then `item [0]`) and the type reached; when the last
 *  step reaches an object of the inspected type, that object is the inspected one. */
export function buildGraph(facts: ObjectFacts): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const chain: string[] = [];
  const objectNode: GraphNode = {
    id: 'object',
    role: 'object',
    label: facts.expression || shortType(facts.type),
    detail: `${shortType(facts.type)} · ${refcountText(facts)}`,
    tooltip: `${facts.expression} (${facts.type}), ${facts.scope}\n${facts.repr}`,
  };
  const steps = facts.chain ?? [];
  const lastReachesObject = steps.length > 1 && steps[steps.length - 1].type === facts.type;
  const throughSteps = lastReachesObject ? steps.length - 1 : steps.length;
  for (let i = 0; i < throughSteps; i += 1) {
    const step = steps[i];
    const id = `chain${i}`;
    if (i === 0) {
      nodes.push({
        id,
        role: 'root',
        label: step.description,
        detail: shortType(step.type),
        tooltip: `root: ${step.description} (${step.type})`,
      });
    } else {
      nodes.push({
        id,
        role: 'chain',
        label: shortType(step.type),
        detail: kindWords(step.kind),
        tooltip: `${step.type}, reached by ${step.description}`,
      });
      edges.push({ from: chain[i - 1], to: id, label: step.description, role: 'chain' });
    }
    chain.push(id);
  }
  nodes.push(objectNode);
  if (chain.length > 0) {
    const last = steps[throughSteps] ?? steps[steps.length - 1];
    edges.push({
      from: chain[chain.length - 1],
      to: objectNode.id,
      label: lastReachesObject ? last.description : 'refers to',
      role: 'chain',
    });
  }
  chain.push(objectNode.id);
  const referrers: string[] = [];
  (facts.referrers ?? []).forEach((referrer, i) => {
    const id = `referrer${i}`;
    nodes.push({
      id,
      role: 'referrer',
      label: referrer.description,
      detail: shortType(referrer.type),
      tooltip: `${referrer.description} (${referrer.type}): ${kindWords(referrer.kind)}, ${plural(referrer.count, 'reference')}`,
    });
    edges.push({
      from: id,
      to: objectNode.id,
      label: `${kindWords(referrer.kind)}${referrer.count > 1 ? ` ×${referrer.count}` : ''}`,
      role: 'referrer',
    });
    referrers.push(id);
  });
  return { nodes, edges, chain, referrers, object: objectNode.id };
}

// ---- layout ------------------------------------------------------------------------------

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedNode extends GraphNode, Box {
  /** The shown (possibly shortened) texts. */
  shownLabel: string;
  shownDetail: string;
}

export interface PlacedEdge extends GraphEdge {
  path: string;
  labelX: number;
  labelY: number;
  shownLabel: string;
  anchor: 'middle' | 'start';
}

export interface Layout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

export const CHAR_WIDTH = 7.2;
const NODE_HEIGHT = 46;
const PADDING_X = 14;
const ROW_GAP = 18;
const MARGIN = 20;
const MIN_GAP = 56;
const MAX_LABEL = 44;
const MAX_EDGE_LABEL = 30;

export function ellipsize(text: string, max: number): string {
  const single = text.replace(/\s+/g, ' ');
  return single.length <= max ? single : `${single.slice(0, max - 1)}…`;
}

function textWidth(text: string): number {
  return Math.ceil(text.length * CHAR_WIDTH);
}

/** Columns left to right: the chain from the root, the object last; the referrers in the column
 *  before the object, stacked under the chain. */
export function layoutGraph(graph: Graph): Layout {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const objectColumn = Math.max(graph.chain.length - 1, 1);
  const column = new Map<string, number>();
  const row = new Map<string, number>();
  const chainOnly = graph.chain.slice(0, -1);
  // Without a chain, the object still sits right of its referrers.
  const chainStart = objectColumn - chainOnly.length;
  chainOnly.forEach((id, i) => {
    column.set(id, chainStart + i);
    row.set(id, 0);
  });
  column.set(graph.object, objectColumn);
  row.set(graph.object, 0);
  const firstReferrerRow = chainOnly.length > 0 ? 1 : 0;
  graph.referrers.forEach((id, i) => {
    column.set(id, objectColumn - 1);
    row.set(id, firstReferrerRow + i);
  });
  const rows = Math.max(1, ...[...row.values()].map((r) => r + 1));
  // Widths.
  const shown = new Map<string, { label: string; detail: string; width: number }>();
  for (const node of graph.nodes) {
    const label = ellipsize(node.label, MAX_LABEL);
    const detail = ellipsize(node.detail, MAX_LABEL);
    shown.set(node.id, { label, detail, width: Math.max(textWidth(label), textWidth(detail)) + 2 * PADDING_X });
  }
  const columns = objectColumn + 1;
  const columnWidth = new Array<number>(columns).fill(0);
  for (const [id, c] of column) {
    columnWidth[c] = Math.max(columnWidth[c], shown.get(id)?.width ?? 0);
  }
  // The gap after each column fits the labels of the edges that cross it.
  const gap = new Array<number>(columns).fill(MIN_GAP);
  for (const edge of graph.edges) {
    const c = column.get(edge.from) ?? 0;
    const label = ellipsize(edge.label, MAX_EDGE_LABEL);
    const need = edge.role === 'chain' ? textWidth(label) + 24 : MIN_GAP;
    gap[c] = Math.max(gap[c], need);
  }
  const columnX: number[] = [];
  let x = MARGIN;
  for (let c = 0; c < columns; c += 1) {
    columnX.push(x);
    x += columnWidth[c] + (c < columns - 1 ? gap[c] : 0);
  }
  const width = x + MARGIN;
  // Referrer edge labels sit above the edge, so rows leave room for them.
  const rowY = (r: number) => MARGIN + 12 + r * (NODE_HEIGHT + ROW_GAP);
  const height = rowY(rows - 1) + NODE_HEIGHT + MARGIN;
  const nodes: PlacedNode[] = graph.nodes
    .filter((n) => column.has(n.id))
    .map((node) => {
      const c = column.get(node.id) ?? 0;
      const s = shown.get(node.id) ?? { label: node.label, detail: node.detail, width: 100 };
      // Right-align the referrers against the object; everything else is left-aligned.
      const w = s.width;
      const nx = node.role === 'referrer' ? columnX[c] + columnWidth[c] - w : columnX[c];
      return {
        ...node,
        x: nx,
        y: rowY(row.get(node.id) ?? 0),
        width: w,
        height: NODE_HEIGHT,
        shownLabel: s.label,
        shownDetail: s.detail,
      };
    });
  const placed = new Map(nodes.map((n) => [n.id, n]));
  const edges: PlacedEdge[] = [];
  for (const edge of graph.edges) {
    const from = placed.get(edge.from);
    const to = placed.get(edge.to);
    if (!from || !to || !byId.has(edge.from)) {
      continue;
    }
    const x1 = from.x + from.width;
    const y1 = from.y + from.height / 2;
    const x2 = to.x;
    // Several referrers meet the object at spread points of its left side.
    let y2 = to.y + to.height / 2;
    if (edge.role === 'referrer') {
      const index = graph.referrers.indexOf(edge.from);
      const total = graph.referrers.length + (graph.chain.length > 1 ? 1 : 0);
      const slot = index + (graph.chain.length > 1 ? 1 : 0);
      y2 = to.y + (to.height * (slot + 1)) / (total + 1);
    } else if (graph.referrers.length > 0) {
      y2 = to.y + to.height / (graph.referrers.length + 2);
    }
    const dx = Math.max(24, (x2 - x1) / 2);
    const path = `M ${r(x1)} ${r(y1)} C ${r(x1 + dx)} ${r(y1)}, ${r(x2 - dx)} ${r(y2)}, ${r(x2)} ${r(y2)}`;
    const shownLabel = ellipsize(edge.label, MAX_EDGE_LABEL);
    edges.push(
      edge.role === 'chain'
        ? { ...edge, path, shownLabel, labelX: r((x1 + x2) / 2), labelY: r(Math.min(y1, y2) - 6), anchor: 'middle' }
        : { ...edge, path, shownLabel, labelX: r(x1 + 6), labelY: r(y1 - 6), anchor: 'start' },
    );
  }
  return { width: r(width), height: r(height), nodes, edges };
}

function r(value: number): number {
  return Math.round(value * 10) / 10;
}

// ---- drawing -----------------------------------------------------------------------------

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The layout as an SVG element (colours from the VS Code theme through CSS classes). */
export function renderSvg(layout: Layout): string {
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="reference-graph" role="img" aria-label="reference graph" ` +
      `width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}">`,
  );
  out.push(
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>',
  );
  for (const edge of layout.edges) {
    out.push(
      `<g class="edge edge-${edge.role}" data-from="${escapeXml(edge.from)}" data-to="${escapeXml(edge.to)}">` +
        `<title>${escapeXml(edge.label)}</title>` +
        `<path d="${edge.path}" marker-end="url(#arrow)"/>` +
        `<text x="${edge.labelX}" y="${edge.labelY}" text-anchor="${edge.anchor}">${escapeXml(edge.shownLabel)}</text></g>`,
    );
  }
  for (const node of layout.nodes) {
    const cx = node.x + 14;
    out.push(
      `<g class="node node-${node.role}" data-id="${escapeXml(node.id)}">` +
        `<title>${escapeXml(node.tooltip)}</title>` +
        `<rect x="${node.x}" y="${node.y}" width="${node.width}" height="${node.height}" rx="6"/>` +
        `<text class="label" x="${cx}" y="${node.y + 19}">${escapeXml(node.shownLabel)}</text>` +
        `<text class="detail" x="${cx}" y="${node.y + 36}">${escapeXml(node.shownDetail)}</text></g>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}

/** The facts under the graph, as rows of a table. */
export function factRows(facts: ObjectFacts): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['type', facts.type],
    ['scope', facts.scope],
    ['references', facts.refcount === null ? 'immortal' : String(facts.refcount)],
    ['size', `${bytes(facts.size)} · deep ${bytes(facts.deep_size)} · retained ${bytes(facts.retained_size)}`],
  ];
  const flags: string[] = [];
  flags.push(facts.in_cycle ? 'in a reference cycle' : 'not in a cycle');
  if (facts.uncollectable) {
    flags.push('uncollectable (in gc.garbage)');
  }
  flags.push(facts.weakrefable ? 'weak-referenceable' : 'not weak-referenceable');
  rows.push(['traits', flags.join(' · ')]);
  if (facts.chain.length > 0) {
    rows.push(['kept alive by', facts.chain.map((s) => s.description).join(' → ')]);
  }
  if (facts.tensor) {
    const t = facts.tensor;
    rows.push(['tensor', `${t.device} ${t.dtype} [${t.shape.join(', ')}], ${bytes(t.bytes)}${t.has_grad_fn ? ', with autograd history' : ''}`]);
  }
  rows.push(['repr', facts.repr]);
  return rows;
}

export const GRAPH_CSS = `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 12px 16px; }
h1 { font-size: 1.15em; font-weight: 600; margin: 0 0 2px; }
h1 code { font-family: var(--vscode-editor-font-family, monospace); }
.sub { color: var(--vscode-descriptionForeground); margin: 0 0 12px; }
.graph { overflow: auto; border: 1px solid var(--vscode-panel-border, transparent); border-radius: 4px; padding: 4px; }
svg text { font-family: var(--vscode-editor-font-family, monospace); font-size: 12px; fill: var(--vscode-foreground); }
svg .node rect { fill: var(--vscode-editorWidget-background, #252526); stroke: var(--vscode-editorWidget-border, #555); stroke-width: 1.2; }
svg .node .label { font-weight: 600; }
svg .node .detail { fill: var(--vscode-descriptionForeground, #999); }
svg .node-object rect { stroke: var(--vscode-focusBorder, #0078d4); stroke-width: 2.4; }
svg .node-root rect { stroke: var(--vscode-charts-green, #89d185); stroke-width: 2; }
svg .node-referrer rect { stroke: var(--vscode-charts-orange, #d18616); }
svg .edge path { fill: none; stroke: var(--vscode-editorLineNumber-foreground, #888); stroke-width: 1.4; }
svg .edge-chain path { stroke: var(--vscode-charts-green, #89d185); stroke-width: 2; }
svg .edge text { font-size: 11px; fill: var(--vscode-descriptionForeground, #aaa); paint-order: stroke; stroke: var(--vscode-editor-background, #1e1e1e); stroke-width: 4px; stroke-linejoin: round; }
svg .arrowhead { fill: var(--vscode-editorLineNumber-foreground, #888); }
.legend { color: var(--vscode-descriptionForeground); font-size: 0.9em; margin: 6px 0 14px; }
.legend span { margin-right: 14px; }
.legend .root { color: var(--vscode-charts-green, #89d185); }
.legend .ref { color: var(--vscode-charts-orange, #d18616); }
table { border-collapse: collapse; }
td { padding: 3px 12px 3px 0; vertical-align: top; }
td:first-child { color: var(--vscode-descriptionForeground); white-space: nowrap; }
td code { font-family: var(--vscode-editor-font-family, monospace); word-break: break-all; }
`;

/** The whole webview page. `cspSource` is the webview's; no script runs in it. */
export function graphHtml(facts: ObjectFacts, where: string): string {
  const graph = buildGraph(facts);
  const svg = renderSvg(layoutGraph(graph));
  const rows = factRows(facts)
    .map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td><code>${escapeXml(v)}</code></td></tr>`)
    .join('\n');
  const empty =
    facts.chain.length === 0 && facts.referrers.length === 0
      ? '<p class="sub">No referrers were found (the object may only be referenced by the frame that is inspecting it).</p>'
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:;">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>reflens: ${escapeXml(facts.expression)}</title>
<style>${GRAPH_CSS}</style>
</head>
<body>
<h1>What keeps <code>${escapeXml(facts.expression)}</code> alive</h1>
<p class="sub">${escapeXml(shortType(facts.type))} · ${escapeXml(refcountText(facts))} · ${escapeXml(facts.scope)} · ${escapeXml(where)}</p>
<div class="graph">${svg}</div>
<div class="legend"><span class="root">━ chain from a root</span><span class="ref">▭ referrer</span><span>hover a box or an arrow for details</span></div>
${empty}
<table>${rows}</table>
</body>
</html>`;
}

/** A page for when there is nothing to draw (no session, no name under the cursor). */
export function messageHtml(title: string, message: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<style>${GRAPH_CSS}</style></head>
<body><h1>${escapeXml(title)}</h1><p class="sub">${escapeXml(message)}</p></body></html>`;
}
