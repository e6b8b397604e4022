/**
 * Unified: every service and every piece of infrastructure AirDig knows (Query.graph) in one
 * picture — nodes coloured by health, badges for open drift and recent changes, call edges as
 * wide as their volume and coloured by their error ratio, topology edges thin.
 */
import type cytoscape from 'cytoscape';
import { GRAPH, type Subgraph } from '../queries.js';
import { applyPositions, callDepths, edgeData, errorColour, HEALTH_COLOURS, layeredPositions, nodeData, syncElements } from '../graph.js';
import type { Shell } from '../view.js';
import { GraphView, legendSwatch } from './graphview.js';

export function healthLegend(): HTMLElement[] {
  return [
    legendSwatch(HEALTH_COLOURS.critical!, 'critical'),
    legendSwatch(HEALTH_COLOURS.warning!, 'warning'),
    legendSwatch(HEALTH_COLOURS.healthy!, 'healthy'),
    legendSwatch(HEALTH_COLOURS.unknown!, 'unknown'),
    legendSwatch('#8e4ec6', 'Δ changes in the last hour', 'badge'),
    legendSwatch('#f76b15', '≠ open drift', 'badge'),
  ];
}

export class UnifiedView extends GraphView {
  readonly name = 'unified';
  readonly title = 'Unified';

  #depths = new Map<string, number>();

  constructor(shell: Shell) {
    super(shell, 'unified', [...healthLegend(), legendSwatch(errorColour(0.5), 'calls, by error ratio', 'line'), legendSwatch('#3a4252', 'topology', 'line')]);
  }

  protected async load(): Promise<boolean> {
    const { graph } = await this.shell.api.query<{ graph: Subgraph }>(GRAPH);
    const maxCalls = Math.max(1, ...graph.edges.map((e) => e.calls ?? 0));
    const ids = new Set(graph.nodes.map((n) => n.id));
    const elements: cytoscape.ElementDefinition[] = [
      ...graph.nodes.map((n) => ({ group: 'nodes' as const, data: nodeData(n) })),
      ...graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({ group: 'edges' as const, data: edgeData(e, maxCalls) })),
    ];
    this.#depths = callDepths(graph.nodes, graph.edges);
    if (graph.truncated) this.shell.status(`The graph has more than ${graph.nodes.length} nodes; showing the first ${graph.nodes.length}.`);
    return syncElements(this.cy, elements);
  }

  protected layout(): void {
    const nodes = this.cy.nodes().not('.badge');
    // Services in the order calls flow (callers left), everything else below them by barycentre.
    const { positions } = layeredPositions(nodes, { tier: (n) => Number(n.data('tier')), rank: (n) => this.#depths.get(n.id()) ?? 0, keepOrder: [0] });
    applyPositions(this.cy, positions);
  }
}
