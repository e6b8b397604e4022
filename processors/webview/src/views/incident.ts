/**
 * The incident inspector: the incidents, newest first, and one of them drawn as the engine tells
 * it — the change (who did what), the resources it reached hop by hop (the correlations' paths),
 * and the signals it explains — with each correlation's explanation and evidence, the other ranked
 * causes, and the time line from the change to the signals.
 */
import type cytoscape from 'cytoscape';
import { clock, h, healthClass, offset, percent, replaceChildren, shortName } from '../dom.js';
import { createGraph, HEALTH_COLOURS, STYLE } from '../graph.js';
import { GRAPH, INCIDENT, INCIDENTS, type Correlation, type Drift, type Incident, type RankedCause, type Subgraph } from '../queries.js';
import type { Shell, View } from '../view.js';

const CAUSE_DRIFT = `query CauseDrift($resource: String!) { drift(resource: $resource, first: 5) { id ts kind attribute address causeEventId } }`;

const CHAIN_STYLE: cytoscape.StylesheetJson = [
  ...STYLE,
  { selector: 'node', style: { 'font-size': 13, width: 38, height: 38 } },
  {
    selector: 'node.change',
    style: {
      shape: 'round-rectangle',
      width: 240,
      'text-max-width': '230px',
      height: 48,
      'font-size': 12,
      'background-color': '#8e4ec6',
      'text-valign': 'center',
      'text-margin-y': 0,
      'text-wrap': 'wrap',
      'text-background-opacity': 0,
      'font-weight': 600,
      color: '#fff',
    } as any,
  },
  {
    selector: 'node.signal',
    style: {
      shape: 'round-rectangle',
      width: 180,
      height: 48,
      'font-size': 12,
      'background-color': HEALTH_COLOURS.critical!,
      'text-valign': 'center',
      'text-margin-y': 0,
      'text-wrap': 'wrap',
      'text-max-width': '160px',
      'text-background-opacity': 0,
      'font-weight': 600,
      color: '#fff',
    } as any,
  },
  { selector: 'node.signal.resolved', style: { 'background-color': HEALTH_COLOURS.healthy! } },
  {
    selector: 'edge',
    style: {
      width: 2,
      label: 'data(label)',
      'font-size': 11,
      color: '#9aa5b8',
      'text-background-color': '#11151c',
      'text-background-opacity': 0.85,
      'curve-style': 'bezier',
    } as any,
  },
  { selector: 'edge.weak', style: { 'line-style': 'dashed', opacity: 0.6 } },
];

type Step = { id: string; kind: 'change' | 'resource' | 'signal'; label: string };

/** A correlation's chain as steps: the change, each hop of its path, the signal. */
export function chainSteps(cause: RankedCause, correlation: Correlation): Step[] {
  const change = cause.change;
  const changeLabel = change ? `${shortName(change.actor)} ${change.eventName}` : `${cause.causeKind} ${shortName(cause.causeId)}`;
  return [
    { id: `change:${cause.causeId}`, kind: 'change', label: changeLabel },
    ...correlation.path.map((hop) => ({ id: hop.id, kind: 'resource' as const, label: hop.name || shortName(hop.id) })),
    { id: `signal:${correlation.signalId || correlation.id}`, kind: 'signal', label: signalText(correlation) },
  ];
}

/**
 * A signal as a person reads it: its reason's head ("checkout → payments errors 33 %", without the
 * counts in parentheses or "as the caller:"), else its rule.
 */
export function signalText(correlation: Correlation): string {
  const evidence = correlation.evidence as { signal?: { reason?: string } } | null;
  const head = (evidence?.signal?.reason ?? '')
    .replace(/^as the caller:\s*/, '')
    .replace(/\s*\(.*$/, '')
    .trim();
  return head && head.length <= 60 ? head : correlation.signal;
}

export class IncidentView implements View {
  readonly name = 'incident';
  readonly title = 'Incidents';
  readonly element: HTMLElement;
  readonly cy: cytoscape.Core;
  #shell: Shell;
  #list: HTMLElement;
  #head: HTMLElement;
  #below: HTMLElement;
  #selected: string | undefined;
  #cause = 1;
  #health = new Map<string, string>();

  constructor(shell: Shell) {
    this.#shell = shell;
    this.#list = h('ul', { class: 'pick-list', 'data-testid': 'incident-list' });
    this.#head = h('div', { class: 'incident-head' });
    const canvas = h('div', { class: 'chain-canvas', 'data-testid': 'incident-chain' });
    this.#below = h('div', { class: 'incident-below' });
    this.element = h(
      'section',
      { class: 'view split-view', 'data-testid': 'view-incident' },
      h('aside', { class: 'side-list' }, this.#list),
      h('div', { class: 'incident-detail' }, this.#head, canvas, this.#below),
    );
    this.cy = createGraph(canvas, CHAIN_STYLE);
    this.cy.autoungrabify(true);
    this.cy.on('tap', 'node', (event) => {
      const node = event.target as cytoscape.NodeSingular;
      if (node.data('kind') === 'resource') shell.selectResource(node.id());
    });
  }

  async show(parameter?: string): Promise<void> {
    if (parameter && parameter !== this.#selected) {
      this.#selected = parameter;
      this.#cause = 1;
    }
    this.cy.resize();
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const [{ incidents }, { graph }] = await Promise.all([
      this.#shell.api.query<{ incidents: Incident[] }>(INCIDENTS),
      this.#shell.api.query<{ graph: Subgraph }>(GRAPH),
    ]);
    this.#health = new Map(graph.nodes.map((n) => [n.id, healthClass(n.health)]));
    this.#selected ??= incidents[0]?.id;
    replaceChildren(
      this.#list,
      incidents.length === 0
        ? h('li', { class: 'empty' }, 'No incidents in the last 24 hours.')
        : incidents.map((i) =>
            h(
              'li',
              {
                class: `pick ${i.id === this.#selected ? 'active' : ''}`,
                'data-testid': 'incident-item',
                'data-id': i.id,
                onclick: () => this.#shell.navigate('incident', i.id),
              },
              h('span', { class: `dot ${i.status === 'OPEN' ? 'critical' : 'healthy'}` }),
              h(
                'span',
                { class: 'pick-name' },
                h('span', { class: 'mono' }, i.id),
                h('div', { class: 'muted small' }, `${clock(i.opened)} · ${i.impacted.map(shortName).join(', ')}`),
              ),
              h('span', { class: `pill ${i.status === 'OPEN' ? 'health-critical' : 'health-healthy'}` }, i.status.toLowerCase()),
            ),
          ),
    );
    if (this.#selected) await this.#renderIncident(this.#selected);
    else {
      replaceChildren(this.#head, h('p', { class: 'empty' }, 'No incident to inspect.'));
      replaceChildren(this.#below);
      this.cy.elements().remove();
    }
    this.element.dataset.ready = 'true';
  }

  async #renderIncident(id: string): Promise<void> {
    const { incident } = await this.#shell.api.query<{ incident: Incident | null }>(INCIDENT, { id });
    if (!incident) {
      replaceChildren(this.#head, h('p', { class: 'empty' }, `No incident ${id}.`));
      replaceChildren(this.#below);
      this.cy.elements().remove();
      return;
    }
    const causes = [...incident.causes].sort((a, b) => a.rank - b.rank);
    const cause = causes.find((c) => c.rank === this.#cause) ?? causes[0];
    const drift = cause
      ? (
          await this.#shell.api.query<{ drift: Pick<Drift, 'id' | 'ts' | 'kind' | 'attribute' | 'address' | 'causeEventId'>[] }>(CAUSE_DRIFT, {
            resource: cause.resourceId,
          })
        ).drift
      : [];
    replaceChildren(
      this.#head,
      h(
        'div',
        { class: 'detail-head' },
        h('span', { class: `pill ${incident.status === 'OPEN' ? 'health-critical' : 'health-healthy'}` }, incident.status.toLowerCase()),
        h('h2', { 'data-testid': 'incident-id' }, incident.id),
        h('span', { class: 'muted' }, `opened ${clock(incident.opened)}${incident.resolved ? ` · resolved ${clock(incident.resolved)}` : ''}`),
      ),
      h(
        'div',
        { class: 'impacted' },
        'impacted: ',
        incident.impacted.map((r) =>
          h('a', { class: 'chip', href: '#', onclick: (e: Event) => (e.preventDefault(), this.#shell.selectResource(r)) }, shortName(r)),
        ),
      ),
      h(
        'div',
        { class: 'cause-tabs' },
        causes.map((c) =>
          h(
            'button',
            {
              class: `cause-tab ${c === cause ? 'active' : ''}`,
              'data-testid': 'cause-tab',
              onclick: () => {
                this.#cause = c.rank;
                void this.#renderIncident(id);
              },
            },
            h('span', { class: 'rank' }, `#${c.rank}`),
            ` ${c.change ? `${shortName(c.change.actor)} ${c.change.eventName}` : `${c.causeKind} ${shortName(c.causeId)}`} `,
            h('span', { class: `pill ${c.score >= 0.5 ? 'claim' : 'weak'}` }, `${c.score >= 0.5 ? 'claimed' : 'weak lead'} ${c.score.toFixed(2)}`),
          ),
        ),
      ),
    );
    if (!cause) {
      this.cy.elements().remove();
      replaceChildren(this.#below, h('p', { class: 'empty' }, 'No ranked cause yet.'));
      return;
    }
    this.#drawChain(cause);
    replaceChildren(this.#below, this.#evidence(cause), this.#timeline(incident, causes, drift));
  }

  #drawChain(cause: RankedCause): void {
    const columns = new Map<string, number>();
    const nodes = new Map<string, cytoscape.ElementDefinition>();
    const edges = new Map<string, cytoscape.ElementDefinition>();
    let last = 0;
    const chains = cause.correlations.map((c) => chainSteps(cause, c));
    for (const steps of chains) last = Math.max(last, steps.length - 1);
    for (const [index, steps] of chains.entries()) {
      const correlation = cause.correlations[index]!;
      steps.forEach((step, i) => {
        const column = step.kind === 'signal' ? last : i;
        columns.set(step.id, Math.max(columns.get(step.id) ?? 0, column));
        const health = step.kind === 'resource' ? (this.#health.get(step.id) ?? 'unknown') : undefined;
        nodes.set(step.id, {
          group: 'nodes',
          data: { id: step.id, label: step.label, kind: step.kind, health, shape: 'ellipse' },
          classes: step.kind === 'resource' ? '' : step.kind,
        });
        if (i > 0) {
          const previous = steps[i - 1]!;
          const hop = correlation.path[i - 1];
          const label = step.kind === 'signal' ? 'signal' : i === 1 ? 'changed' : (hop?.edge ?? '');
          const edgeId = `${previous.id}->${step.id}`;
          edges.set(edgeId, { group: 'edges', data: { id: edgeId, source: previous.id, target: step.id, label }, classes: correlation.claim ? '' : 'weak' });
        }
      });
    }
    this.cy.batch(() => {
      this.cy.elements().remove();
      this.cy.add([...nodes.values(), ...edges.values()]);
      const rows = new Map<number, number>();
      for (const [id, column] of columns) {
        const row = rows.get(column) ?? 0;
        rows.set(column, row + 1);
        // The change's box is wider than a resource: its column sits further left.
        this.cy.getElementById(id).position({ x: column === 0 ? -65 : column * 150, y: row * 80 });
      }
      // Centre each column vertically.
      for (const [column, count] of rows) {
        this.cy.nodes().forEach((n) => {
          if (columns.get(n.id()) === column) n.position('y', n.position('y') - ((count - 1) * 80) / 2);
        });
      }
    });
    this.cy.fit(undefined, 30);
    if (this.cy.zoom() > 1.4) {
      this.cy.zoom(1.4);
      this.cy.center();
    }
    this.element.dataset.chain = chains.map((steps) => steps.map((s) => s.kind).join('>')).join(' ');
  }

  #evidence(cause: RankedCause): HTMLElement {
    return h(
      'div',
      { class: 'evidence' },
      h('h3', {}, `Cause #${cause.rank}`),
      h('p', { class: 'strong', 'data-testid': 'cause-explanation' }, cause.explanation),
      h('p', { class: 'muted small' }, `probability ${percent(cause.probability)} · score ${cause.score.toFixed(2)}`),
      cause.change
        ? h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'change'),
            h('dd', {}, `${cause.change.eventSource} ${cause.change.eventName} at ${clock(cause.change.ts)}`),
            h('dt', {}, 'actor'),
            h('dd', {}, `${cause.change.actor} (${cause.change.actorType})${cause.change.sourceIp ? ` from ${cause.change.sourceIp}` : ''}`),
            h('dt', {}, 'resources'),
            h('dd', {}, cause.change.resourceIds.map(shortName).join(', ')),
            h('dt', {}, 'event id'),
            h('dd', { class: 'mono' }, cause.change.id),
          )
        : null,
      cause.correlations.map((c) =>
        h(
          'div',
          { class: 'correlation', 'data-testid': 'correlation' },
          h(
            'ol',
            { class: 'chain', 'data-testid': 'chain' },
            chainSteps(cause, c).map((s) => h('li', { class: `step ${s.kind}`, 'data-kind': s.kind }, s.label)),
          ),
          h(
            'p',
            {},
            h('span', { class: `pill ${c.claim ? 'claim' : 'weak'}` }, `${c.claim ? 'claim' : 'weak lead'} ${c.score.toFixed(2)}`),
            ' ',
            c.explanation,
          ),
          h('details', {}, h('summary', {}, 'evidence'), h('pre', { class: 'json' }, JSON.stringify(c.evidence, null, 2))),
        ),
      ),
    );
  }

  #timeline(incident: Incident, causes: RankedCause[], drift: Pick<Drift, 'ts' | 'kind' | 'attribute' | 'address'>[]): HTMLElement {
    type Entry = { ts: string; kind: string; text: string };
    const entries: Entry[] = [];
    for (const c of causes) {
      if (c.change)
        entries.push({
          ts: c.change.ts,
          kind: 'change',
          text: `#${c.rank} ${shortName(c.change.actor)} ${c.change.eventName} on ${c.change.resourceIds.map(shortName).join(', ')}`,
        });
    }
    for (const d of drift) entries.push({ ts: d.ts, kind: 'drift', text: `drift: ${d.kind.toLowerCase()} ${d.address || ''} ${d.attribute}`.trim() });
    const seen = new Set<string>();
    for (const c of causes.flatMap((cause) => cause.correlations)) {
      const key = c.signalId || c.id;
      if (seen.has(key)) continue;
      seen.add(key);
      entries.push({ ts: c.ts, kind: 'signal', text: `signal: ${signalText(c)} on ${shortName(c.impactedResourceId)}` });
    }
    entries.push({ ts: incident.opened, kind: 'incident', text: `incident ${incident.id} opened` });
    if (incident.resolved) entries.push({ ts: incident.resolved, kind: 'resolved', text: 'incident resolved' });
    entries.sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    // Offsets count from the top cause's change: "the errors began 2 minutes after it".
    const origin = causes[0]?.change?.ts ?? entries[0]?.ts ?? incident.opened;
    return h(
      'div',
      { class: 'time-line' },
      h('h3', {}, 'Time line'),
      h(
        'ol',
        { 'data-testid': 'incident-timeline' },
        entries.map((e) =>
          h(
            'li',
            { class: `tl ${e.kind}` },
            h('span', { class: 'mono tl-time' }, clock(e.ts)),
            h('span', { class: 'mono muted tl-offset' }, offset(origin, e.ts)),
            h('span', {}, e.text),
          ),
        ),
      ),
    );
  }
}
