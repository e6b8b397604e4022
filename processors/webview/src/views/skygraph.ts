/**
 * SkyGraph: the cloud topology grouped as it is owned and wired — account, then region, then VPC
 * (compound nodes), each resource inside the VPC it belongs to, coloured by health and badged as
 * in Unified. Services are left to the Unified and TraceCore views.
 */
import type cytoscape from 'cytoscape';
import { GRAPH, type GraphNode, type Subgraph } from '../queries.js';
import { applyPositions, edgeData, layeredPositions, nodeData, syncElements } from '../graph.js';
import type { Shell } from '../view.js';
import { GraphView, legendSwatch } from './graphview.js';
import { healthLegend } from './unified.js';

const GROUP_GAP = 90;

export class SkyGraphView extends GraphView {
  readonly name = 'skygraph';
  readonly title = 'SkyGraph';
  #groups: { parent: string; children: string[] }[] = [];

  constructor(shell: Shell) {
    super(shell, 'skygraph', [...healthLegend(), legendSwatch('#364055', 'account ▸ region ▸ VPC', 'badge')]);
  }

  protected async load(): Promise<boolean> {
    const { graph } = await this.shell.api.query<{ graph: Subgraph }>(GRAPH);
    const cloud = graph.nodes.filter((n) => n.type !== 'service' && !n.id.startsWith('service:'));
    const byId = new Map(cloud.map((n) => [n.id, n]));
    const vpcs = new Set(cloud.map((n) => n.vpc).filter((v): v is string => !!v && byId.has(v)));
    const elements: cytoscape.ElementDefinition[] = [];
    const parents = new Map<string, string>();
    const group = (n: GraphNode) => {
      const account = `account:${n.account || 'unknown'}`;
      const region = `region:${n.account || 'unknown'}/${n.region || 'global'}`;
      if (!parents.has(account)) {
        parents.set(account, '');
        elements.push({ group: 'nodes', data: { id: account, label: `account ${n.account || '(none)'}`, synthetic: true } });
      }
      if (!parents.has(region)) {
        parents.set(region, account);
        elements.push({ group: 'nodes', data: { id: region, label: n.region || 'global', parent: account, synthetic: true } });
      }
      return region;
    };
    // VPCs first: they are the parents of what is in them.
    for (const n of cloud.filter((c) => vpcs.has(c.id))) elements.push({ group: 'nodes', data: { ...nodeData(n, group(n)), label: `VPC ${n.name || n.id}` } });
    const members = new Map<string, string[]>();
    for (const n of cloud) {
      if (vpcs.has(n.id)) continue;
      const parent = n.vpc && vpcs.has(n.vpc) ? n.vpc : group(n);
      elements.push({ group: 'nodes', data: nodeData(n, parent) });
      if (!members.has(parent)) members.set(parent, []);
      members.get(parent)!.push(n.id);
    }
    this.#groups = [...members].map(([parent, children]) => ({ parent, children }));
    const maxCalls = Math.max(1, ...graph.edges.map((e) => e.calls ?? 0));
    for (const e of graph.edges) {
      // Containment says "in this VPC" already; an edge to the VPC would only cross its own box.
      if (!byId.has(e.source) || !byId.has(e.target) || vpcs.has(e.target) || vpcs.has(e.source)) continue;
      elements.push({ group: 'edges', data: edgeData(e, maxCalls) });
    }
    return syncElements(this.cy, elements);
  }

  protected layout(): void {
    let x = 0;
    const all = new Map<string, cytoscape.Position>();
    // Groups in order of their region, so that one region's boxes sit side by side.
    const regionOf = (parent: string): string => {
      const node = this.cy.getElementById(parent);
      return node.data('synthetic') ? parent : String(node.data('parent') ?? '');
    };
    for (const { children } of [...this.#groups].sort((a, b) => regionOf(a.parent).localeCompare(regionOf(b.parent)))) {
      const nodes = this.cy.nodes().filter((n) => children.includes(n.id()));
      const { positions, width } = layeredPositions(nodes, { tier: (n) => Number(n.data('tier')), originX: x, spacingX: 130, spacingY: 110 });
      for (const [id, p] of positions) all.set(id, p);
      x += width + GROUP_GAP;
    }
    applyPositions(this.cy, all);
  }
}
