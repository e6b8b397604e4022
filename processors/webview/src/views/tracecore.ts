/**
 * TraceCore: the service map from the traces (Query.serviceMap) left to right by call depth, each
 * call edge labelled with its p95 latency and error ratio, and a table of the edges with a link to
 * their traces: the SQL on AirDig's ClickHouse query endpoint that lists the server's spans of the
 * window, failed ones first (the endpoint is read-only; its address is set in the toolbar).
 */
import type cytoscape from 'cytoscape';
import { h, percent, replaceChildren } from '../dom.js';
import { applyPositions, callDepths, edgeData, layeredPositions, nodeData, syncElements } from '../graph.js';
import { SERVICE_MAP, type GraphEdge, type GraphNode, type Subgraph } from '../queries.js';
import type { Shell } from '../view.js';
import { GraphView, legendSwatch } from './graphview.js';
import { healthLegend } from './unified.js';

const MINUTES = 15;
const QUERY_URL_KEY = 'airdig.queryUrl';

function queryEndpoint(): string {
  return localStorage.getItem(QUERY_URL_KEY) || `${location.protocol}//${location.hostname}:8123`;
}

function sqlString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** The SQL that lists a service's server spans of the window, failed first: where a trace id to follow is found. */
export function tracesSql(server: string, minutes: number): string {
  return [
    'SELECT Timestamp, TraceId, SpanName, round(Duration / 1e6, 1) AS ms, StatusCode, StatusMessage',
    'FROM otel_traces',
    `WHERE ServiceName = ${sqlString(server)} AND SpanKind = 'SPAN_KIND_SERVER' AND Timestamp > now() - INTERVAL ${minutes} MINUTE`,
    "ORDER BY StatusCode = 'STATUS_CODE_ERROR' DESC, Timestamp DESC LIMIT 20 FORMAT PrettyCompactMonoBlock",
  ].join(' ');
}

function milliseconds(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

export function edgeLabel(edge: GraphEdge): string {
  return `p95 ${milliseconds(edge.p95Ms)} · ${percent(edge.errorRatio)} errors`;
}

export class TraceCoreView extends GraphView {
  readonly name = 'tracecore';
  readonly title = 'TraceCore';
  #table: HTMLElement;
  #depths = new Map<string, number>();

  constructor(shell: Shell) {
    const endpoint = h('input', {
      class: 'endpoint',
      'aria-label': 'query endpoint',
      value: queryEndpoint(),
      title: "AirDig's ClickHouse query endpoint, for the trace links",
    });
    super(shell, 'tracecore', [
      ...healthLegend().slice(0, 4),
      legendSwatch('#5b6474', 'calls < 1 % errors', 'line'),
      legendSwatch('#f5a524', '< 5 %', 'line'),
      legendSwatch('#e5484d', '≥ 5 %', 'line'),
      h('span', { class: 'legend-item push' }, `last ${MINUTES} min · query endpoint `, endpoint),
    ]);
    endpoint.addEventListener('change', () => {
      localStorage.setItem(QUERY_URL_KEY, endpoint.value.replace(/\/+$/, ''));
      void this.refresh();
    });
    this.#table = h('div', { class: 'edge-table table-wrap', 'data-testid': 'tracecore-edges' });
    this.element.append(this.#table);
  }

  protected async load(): Promise<boolean> {
    const { serviceMap } = await this.shell.api.query<{ serviceMap: Subgraph }>(SERVICE_MAP, { minutes: MINUTES });
    const maxCalls = Math.max(1, ...serviceMap.edges.map((e) => e.calls ?? 0));
    const ids = new Set(serviceMap.nodes.map((n) => n.id));
    const edges = serviceMap.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
    this.#depths = callDepths(
      serviceMap.nodes,
      edges.map((e) => ({ ...e, type: 'calls' })),
    );
    const elements: cytoscape.ElementDefinition[] = [
      ...serviceMap.nodes.map((n) => ({ group: 'nodes' as const, data: nodeData(n) })),
      ...edges.map((e) => ({ group: 'edges' as const, data: { ...edgeData({ ...e, type: 'calls' }, maxCalls, edgeLabel(e)) }, classes: 'labelled' })),
    ];
    this.#renderTable(serviceMap.nodes, edges);
    return syncElements(this.cy, elements);
  }

  protected layout(): void {
    const { positions } = layeredPositions(this.cy.nodes().not('.badge'), { tier: (n) => this.#depths.get(n.id()) ?? 0, spacingX: 120, spacingY: 260 });
    // Rows become columns: calls read left to right.
    applyPositions(this.cy, new Map([...positions].map(([id, p]) => [id, { x: p.y, y: p.x }])));
  }

  #renderTable(nodes: GraphNode[], edges: GraphEdge[]): void {
    const names = new Map(nodes.map((n) => [n.id, n.name || n.id]));
    const sorted = [...edges].sort((a, b) => (b.errorRatio ?? 0) - (a.errorRatio ?? 0));
    replaceChildren(
      this.#table,
      sorted.length === 0
        ? h('p', { class: 'empty' }, `No calls in the last ${MINUTES} minutes.`)
        : h(
            'table',
            { class: 'table compact' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['client → server', 'calls', 'errors', 'error ratio', 'p95', 'traces'].map((c) => h('th', {}, c)),
              ),
            ),
            h(
              'tbody',
              {},
              sorted.map((e) => {
                const server = names.get(e.target) ?? e.target;
                const href = `${queryEndpoint()}/?query=${encodeURIComponent(tracesSql(server, MINUTES))}`;
                return h(
                  'tr',
                  { 'data-testid': 'tracecore-edge', onclick: () => this.focus(e.target) },
                  h('td', { class: 'strong' }, `${names.get(e.source) ?? e.source} → ${server}`),
                  h('td', { class: 'num' }, String(e.calls ?? 0)),
                  h('td', { class: 'num' }, String(e.errors ?? 0)),
                  h('td', { class: `num ${(e.errorRatio ?? 0) >= 0.05 ? 'bad' : ''}` }, percent(e.errorRatio)),
                  h('td', { class: 'num' }, milliseconds(e.p95Ms)),
                  h(
                    'td',
                    {},
                    h('a', { href, target: '_blank', rel: 'noopener', 'data-testid': 'trace-link', title: tracesSql(server, MINUTES) }, `${server} spans ↗`),
                  ),
                );
              }),
            ),
          ),
    );
  }
}
