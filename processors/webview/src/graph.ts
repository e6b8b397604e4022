/**
 * What every drawn graph shares: Cytoscape's style (health colours, shapes per kind of resource,
 * edges by call volume and error ratio), badges for open drift and recent changes, an update that
 * keeps what did not change (so a live update recolours instead of redrawing), and a layered
 * layout (services, then compute, then network, then VPCs) that reads top to bottom.
 */
import cytoscape from 'cytoscape';
import type { GraphEdge, GraphNode } from './queries.js';
import { healthClass } from './dom.js';

export const HEALTH_COLOURS: Record<string, string> = {
  critical: '#e5484d',
  warning: '#f5a524',
  healthy: '#30a46c',
  unknown: '#6b7280',
};
const CHANGE_COLOUR = '#8e4ec6';
const DRIFT_COLOUR = '#f76b15';
const TEXT = '#d7dce3';
const EDGE_QUIET = '#5b6474';

/** An edge's colour by its error ratio: quiet below 1 %, amber to 5 %, red above. */
export function errorColour(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || ratio < 0.01) return EDGE_QUIET;
  return ratio < 0.05 ? HEALTH_COLOURS.warning! : HEALTH_COLOURS.critical!;
}

/** Kinds of resources, from the type's wording: a tier (row of the layout) and a shape. */
export function kindOf(type: string): { tier: number; shape: string; kind: string } {
  const t = type.toLowerCase();
  if (t === 'service' || t.startsWith('service')) return { tier: 0, shape: 'round-rectangle', kind: 'service' };
  if (/instance|pod|node|function|lambda|container|task/.test(t)) return { tier: 1, shape: 'ellipse', kind: 'compute' };
  if (/rds|db|database|cache|bucket|queue|table/.test(t)) return { tier: 1, shape: 'barrel', kind: 'data' };
  if (/security.?group/.test(t)) return { tier: 2, shape: 'hexagon', kind: 'security-group' };
  if (/vpc|account|cluster|region/.test(t)) return { tier: 3, shape: 'round-tag', kind: 'network' };
  return { tier: 2, shape: 'diamond', kind: 'network' };
}

export const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      'background-color': HEALTH_COLOURS.unknown,
      shape: 'data(shape)' as any,
      width: 34,
      height: 34,
      label: 'data(label)',
      color: TEXT,
      'font-size': 11,
      'font-family': 'Inter, system-ui, sans-serif',
      'text-valign': 'bottom',
      'text-margin-y': 5,
      'text-wrap': 'ellipsis',
      'text-max-width': '130px',
      'text-background-color': '#11151c',
      'text-background-opacity': 0.75,
      'text-background-padding': '2px',
      'text-background-shape': 'roundrectangle',
      'border-width': 2,
      'border-color': '#0b0e13',
    } as any,
  },
  ...Object.entries(HEALTH_COLOURS).map(([health, colour]) => ({ selector: `node[health = "${health}"]`, style: { 'background-color': colour } })),
  { selector: 'node[kind = "service"]', style: { width: 46, height: 30, 'font-size': 12, 'font-weight': 600 } as any },
  { selector: 'node.dim', style: { opacity: 0.35 } },
  { selector: 'node:selected', style: { 'border-color': '#ffffff', 'border-width': 3 } },
  {
    selector: 'node.badge',
    style: {
      width: 20,
      height: 16,
      shape: 'round-rectangle',
      label: 'data(label)',
      'font-size': 9,
      'font-weight': 700,
      color: '#ffffff',
      'text-valign': 'center',
      'text-margin-y': 0,
      'text-background-opacity': 0,
      'border-width': 1,
      'border-color': '#0b0e13',
      events: 'no',
      'z-index': 20,
    } as any,
  },
  { selector: 'node.badge.change', style: { 'background-color': CHANGE_COLOUR } },
  { selector: 'node.badge.drift', style: { 'background-color': DRIFT_COLOUR } },
  {
    selector: ':parent',
    style: {
      shape: 'round-rectangle',
      'background-color': '#1a2030',
      'background-opacity': 0.55,
      'border-color': '#364055',
      'border-width': 1,
      label: 'data(label)',
      'text-valign': 'top',
      'text-halign': 'center',
      'text-margin-y': -4,
      'font-size': 12,
      'font-weight': 600,
      color: '#9aa5b8',
      'text-background-opacity': 0,
      'text-max-width': '400px',
      padding: '18px',
    } as any,
  },
  {
    selector: 'edge',
    style: {
      width: 1.2,
      'line-color': '#3a4252',
      'target-arrow-color': '#3a4252',
      'target-arrow-shape': 'triangle',
      'arrow-scale': 0.7,
      'curve-style': 'bezier',
    } as any,
  },
  { selector: 'edge[type = "member_of"]', style: { 'line-style': 'dashed' } },
  {
    selector: 'edge[type = "calls"]',
    style: {
      width: 'data(width)',
      'line-color': 'data(colour)',
      'target-arrow-color': 'data(colour)',
      'arrow-scale': 1,
      'curve-style': 'unbundled-bezier',
      'control-point-distances': 'data(bow)',
      'control-point-weights': 0.5,
      'z-index': 10,
    } as any,
  },
  {
    selector: 'edge.labelled',
    style: {
      label: 'data(label)',
      'font-size': 10,
      color: TEXT,
      'text-background-color': '#11151c',
      'text-background-opacity': 0.85,
      'text-background-padding': '2px',
      'text-rotation': 'autorotate',
    } as any,
  },
];

export function createGraph(container: HTMLElement, style: cytoscape.StylesheetJson = STYLE): cytoscape.Core {
  const cy = cytoscape({ container, style, layout: { name: 'preset' }, minZoom: 0.2, maxZoom: 3, boxSelectionEnabled: false, autoungrabify: false });
  // Cytoscape follows the window's size, not its container's (the details panel narrows it).
  new ResizeObserver(() => cy.resize()).observe(container);
  return cy;
}

export function nodeData(node: GraphNode, parent?: string): Record<string, unknown> {
  const kind = kindOf(node.type);
  return {
    id: node.id,
    label: node.name || node.id,
    name: node.name,
    type: node.type,
    health: healthClass(node.health),
    openDrift: node.openDrift,
    recentChanges: node.recentChanges,
    criticality: node.criticality,
    account: node.account,
    region: node.region,
    vpc: node.vpc,
    shape: kind.shape,
    kind: kind.kind,
    tier: kind.tier,
    ...(parent ? { parent } : {}),
  };
}

export function edgeData(edge: GraphEdge, maxCalls: number, label?: string): Record<string, unknown> {
  const calls = edge.calls ?? 0;
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    type: edge.type,
    calls,
    errors: edge.errors ?? 0,
    errorRatio: edge.errorRatio ?? 0,
    p95Ms: edge.p95Ms,
    width: edge.type === 'calls' ? 1.5 + (6 * Math.log1p(calls)) / Math.log1p(Math.max(maxCalls, 1)) : 1.2,
    colour: errorColour(edge.errorRatio),
    bow: 0,
    ...(label ? { label } : {}),
  };
}

/**
 * Makes the graph hold exactly these elements: new ones added, gone ones removed, the others' data
 * replaced in place. Returns true when elements were added or removed (the layout is then redone).
 */
export function syncElements(cy: cytoscape.Core, elements: cytoscape.ElementDefinition[]): boolean {
  const wanted = new Map(elements.map((e) => [String(e.data.id), e]));
  let changed = false;
  cy.batch(() => {
    cy.elements()
      .not('.badge')
      .forEach((element) => {
        if (!wanted.has(element.id())) {
          element.remove();
          changed = true;
        }
      });
    // Parents first, then nodes, then edges: an edge needs both ends, a child its parent.
    const order = (e: cytoscape.ElementDefinition) => (e.group === 'edges' || e.data.source ? 2 : e.data.parent ? 1 : 0);
    for (const definition of [...wanted.values()].sort((a, b) => order(a) - order(b))) {
      const existing = cy.getElementById(String(definition.data.id));
      if (existing.nonempty()) {
        existing.data(definition.data);
        if (definition.classes !== undefined) existing.classes(definition.classes);
      } else {
        cy.add(definition);
        changed = true;
      }
    }
  });
  placeBadges(cy);
  // New data came with no bow: the nodes that stay keep their places, and their edges their curves.
  bowSameRowEdges(cy);
  return changed;
}

/** Badges on nodes with open drift or recent changes, kept at their node's top corners. */
export function placeBadges(cy: cytoscape.Core): void {
  cy.batch(() => {
    const wanted = new Set<string>();
    cy.nodes()
      .not('.badge')
      .forEach((node) => {
        for (const [kind, count, symbol, dx] of [
          ['change', Number(node.data('recentChanges') ?? 0), 'Δ', 1],
          ['drift', Number(node.data('openDrift') ?? 0), '≠', -1],
        ] as const) {
          if (count <= 0 || node.isParent()) continue;
          const id = `badge:${kind}:${node.id()}`;
          wanted.add(id);
          const position = { x: node.position('x') + dx * (node.width() / 2 + 4), y: node.position('y') - node.height() / 2 - 4 };
          const label = `${symbol}${count}`;
          const badge = cy.getElementById(id);
          if (badge.nonempty()) badge.data({ label, count }).position(position);
          else cy.add({ group: 'nodes', data: { id, label, count, of: node.id() }, classes: `badge ${kind}`, position, grabbable: false, selectable: false });
        }
      });
    cy.nodes('.badge').forEach((badge) => {
      if (!wanted.has(badge.id())) badge.remove();
    });
  });
}

/** Follows nodes being dragged or laid out with their badges. */
export function keepBadgesAttached(cy: cytoscape.Core): void {
  cy.on('position', 'node', (event) => {
    const node = event.target as cytoscape.NodeSingular;
    if (node.hasClass('badge')) return;
    for (const [kind, dx] of [
      ['change', 1],
      ['drift', -1],
    ] as const) {
      const badge = cy.getElementById(`badge:${kind}:${node.id()}`);
      if (badge.nonempty()) badge.position({ x: node.position('x') + dx * (node.width() / 2 + 4), y: node.position('y') - node.height() / 2 - 4 });
    }
  });
}

export interface LayeredOptions {
  /** The row of a node (0 at the top). */
  tier: (node: cytoscape.NodeSingular) => number;
  /** The initial order within a row (then by label); rows listed in keepOrder keep it. */
  rank?: (node: cytoscape.NodeSingular) => number;
  keepOrder?: number[];
  spacingX?: number;
  spacingY?: number;
  originX?: number;
  originY?: number;
}

/**
 * Positions nodes in rows by tier, each row ordered by the mean position of its neighbours in the
 * rows already placed (a few sweeps down and up), so that edges mostly run straight down.
 * Returns the positions and the width used.
 */
export function layeredPositions(nodes: cytoscape.NodeCollection, options: LayeredOptions): { positions: Map<string, cytoscape.Position>; width: number } {
  const spacingX = options.spacingX ?? 150;
  const spacingY = options.spacingY ?? 130;
  const rows = new Map<number, cytoscape.NodeSingular[]>();
  nodes.forEach((node) => {
    const tier = options.tier(node);
    if (!rows.has(tier)) rows.set(tier, []);
    rows.get(tier)!.push(node);
  });
  const tiers = [...rows.keys()].sort((a, b) => a - b);
  const order = new Map<string, number>();
  const widestRow = Math.max(...tiers.map((t) => rows.get(t)!.length));
  // Orders on a common scale (0 … widest row − 1), so that barycentres of rows of different lengths compare.
  const spread = (row: cytoscape.NodeSingular[]) =>
    row.forEach((n, j) => order.set(n.id(), row.length === 1 ? (widestRow - 1) / 2 : (j * (widestRow - 1)) / (row.length - 1)));
  const rank = options.rank ?? (() => 0);
  for (const tier of tiers) spread(rows.get(tier)!.sort((a, b) => rank(a) - rank(b) || String(a.data('label')).localeCompare(String(b.data('label')))));
  const inSet = new Set(nodes.map((n) => n.id()));
  // The mean order of a node's neighbours in one other row (the row just swept).
  const barycentre = (node: cytoscape.NodeSingular, fallback: number, row: number) => {
    const around = node.neighborhood('node').filter((n) => inSet.has(n.id()) && options.tier(n as cytoscape.NodeSingular) === row);
    if (around.empty()) return fallback;
    let sum = 0;
    around.forEach((n) => {
      sum += order.get(n.id())!;
    });
    return sum / around.length;
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    const sequence = sweep % 2 === 0 ? tiers : [...tiers].reverse();
    sequence.forEach((tier, i) => {
      const row = rows.get(tier)!;
      if (i === 0 || options.keepOrder?.includes(tier)) return;
      const keys = new Map(row.map((n) => [n.id(), barycentre(n, order.get(n.id())!, sequence[i - 1]!)]));
      spread(row.sort((a, b) => keys.get(a.id())! - keys.get(b.id())!));
    });
  }
  const widest = Math.max(1, ...tiers.map((t) => rows.get(t)!.length));
  const width = widest * spacingX;
  const originX = options.originX ?? 0;
  const positions = new Map<string, cytoscape.Position>();
  const rowY = new Map(tiers.map((tier, i) => [tier, (options.originY ?? 0) + i * spacingY]));
  // The widest row evenly spaced; the others, widest first, each node under the mean x of its
  // placed neighbours, then pushed apart to the spacing and kept inside the width.
  const byLength = [...tiers].sort((a, b) => rows.get(b)!.length - rows.get(a)!.length);
  for (const [index, tier] of byLength.entries()) {
    const row = rows.get(tier)!;
    const even = (i: number) => originX + (width - row.length * spacingX) / 2 + spacingX / 2 + i * spacingX;
    const xs = row.map((n, i) => {
      if (index === 0) return even(i);
      const placed = n.neighborhood('node').filter((m) => positions.has(m.id()));
      if (placed.empty()) return even(i);
      let sum = 0;
      placed.forEach((m) => {
        sum += positions.get(m.id())!.x;
      });
      return sum / placed.length;
    });
    // Keep the row's order; enforce the spacing left to right, then right to left inside the width.
    for (let i = 1; i < xs.length; i++) xs[i] = Math.max(xs[i]!, xs[i - 1]! + spacingX);
    const right = originX + width - spacingX / 2;
    if (xs.length && xs[xs.length - 1]! > right) xs[xs.length - 1] = right;
    for (let i = xs.length - 2; i >= 0; i--) xs[i] = Math.min(xs[i]!, xs[i + 1]! - spacingX);
    row.forEach((n, i) => positions.set(n.id(), { x: xs[i]!, y: rowY.get(tier)! }));
  }
  return { positions, width };
}

/** Call edges between nodes of one row bow around the nodes between them. */
export function bowSameRowEdges(cy: cytoscape.Core): void {
  cy.edges('[type = "calls"]').forEach((edge) => {
    const a = edge.source().position();
    const b = edge.target().position();
    const sameRow = Math.abs(a.y - b.y) < 20;
    // Upwards, away from the rows below: the sign of a control point distance follows the edge's direction.
    edge.data('bow', sameRow ? -Math.sign(b.x - a.x) * Math.min(140, 20 + Math.abs(a.x - b.x) * 0.25) : 0);
  });
}

export function applyPositions(cy: cytoscape.Core, positions: Map<string, cytoscape.Position>): void {
  cy.batch(() => {
    for (const [id, position] of positions) cy.getElementById(id).position(position);
  });
  placeBadges(cy);
  bowSameRowEdges(cy);
}

/** Longest call path from a node nobody calls, per node: the column of each service in a call map. */
export function callDepths(nodes: { id: string }[], edges: { source: string; target: string; type: string }[]): Map<string, number> {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  const calls = edges.filter((e) => e.type === 'calls' && e.source !== e.target && depth.has(e.source) && depth.has(e.target));
  // At most one pass per node: a cycle cannot push depths on for ever.
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of calls) {
      const next = depth.get(e.source)! + 1;
      if (next > depth.get(e.target)!) {
        depth.set(e.target, next);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return depth;
}
