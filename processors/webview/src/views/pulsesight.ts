/**
 * PulseSight: the health of one resource over time — each rule that fired on it as a band from
 * firing to resolved, coloured by its status, with the facts underneath — and the runtime events
 * (Falco) seen on it. The list on the left holds every resource, the unhealthy first.
 */
import { clock, h, healthClass, replaceChildren, shortName } from '../dom.js';
import { HEALTH_COLOURS } from '../graph.js';
import { GRAPH, HEALTH_HISTORY, RUNTIME_EVENTS, type GraphNode, type Health, type HealthFact, type RuntimeEvent, type Subgraph } from '../queries.js';
import type { Shell, View } from '../view.js';

const SEVERITY: Record<Health, number> = { CRITICAL: 0, WARNING: 1, UNKNOWN: 2, HEALTHY: 3 };
const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** One lane per rule and subject: an edge rule fires per edge (its client and server labels). */
function laneOf(fact: HealthFact): string {
  const client = fact.labels?.client_id ?? fact.labels?.client;
  const server = fact.labels?.server_id ?? fact.labels?.server;
  return typeof client === 'string' && typeof server === 'string' ? `${fact.rule} ${shortName(client)}→${shortName(server)}` : fact.rule;
}

/** Bands per rule: from a firing fact to the next resolved one (or now). */
function bands(facts: HealthFact[], now: number): { rule: string; from: number; to: number; status: string; open: boolean }[] {
  const byRule = new Map<string, HealthFact[]>();
  for (const f of [...facts].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts))) {
    const lane = laneOf(f);
    if (!byRule.has(lane)) byRule.set(lane, []);
    byRule.get(lane)!.push(f);
  }
  const out: { rule: string; from: number; to: number; status: string; open: boolean }[] = [];
  for (const [rule, list] of byRule) {
    let open: HealthFact | undefined;
    for (const f of list) {
      if (f.state === 'resolved') {
        if (open) out.push({ rule, from: Date.parse(open.ts), to: Date.parse(f.ts), status: healthClass(open.status), open: false });
        open = undefined;
      } else if (!open) open = f;
    }
    if (open) out.push({ rule, from: Date.parse(open.ts), to: now, status: healthClass(open.status), open: true });
  }
  return out;
}

export function healthTimeline(facts: HealthFact[], now = Date.now()): SVGSVGElement {
  const list = bands(facts, now);
  const rules = [...new Set(list.map((b) => b.rule))];
  const start = Math.min(now - 10 * 60_000, ...list.map((b) => b.from)) - 60_000;
  const width = 1000;
  const left = 300;
  const rowHeight = 30;
  const height = 40 + Math.max(1, rules.length) * rowHeight;
  const x = (t: number) => left + ((t - start) / (now - start)) * (width - left - 10);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'timeline', 'data-testid': 'health-timeline' });
  // Minute ticks, at most ~8 of them.
  const span = now - start;
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 360].map((m) => m * 60_000).find((s) => span / s <= 8) ?? 720 * 60_000;
  for (let t = Math.ceil(start / step) * step; t <= now; t += step) {
    root.append(svg('line', { x1: x(t), x2: x(t), y1: 10, y2: height - 20, class: 'tick' }));
    root.append(svg('text', { x: x(t), y: height - 6, class: 'tick-label', 'text-anchor': 'middle' }, new Date(t).toISOString().slice(11, 16)));
  }
  if (rules.length === 0) root.append(svg('text', { x: left, y: 32, class: 'lane-label' }, 'no rule has fired on it'));
  rules.forEach((rule, i) => {
    const y = 14 + i * rowHeight;
    root.append(svg('text', { x: left - 10, y: y + 15, class: 'lane-label', 'text-anchor': 'end' }, rule.length > 40 ? `${rule.slice(0, 39)}…` : rule));
    root.append(svg('rect', { x: left, y: y + 4, width: width - left - 10, height: 16, rx: 3, class: 'lane' }));
    for (const b of list.filter((band) => band.rule === rule)) {
      const rect = svg('rect', {
        x: x(b.from),
        y: y + 4,
        width: Math.max(3, x(b.to) - x(b.from)),
        height: 16,
        rx: 3,
        fill: HEALTH_COLOURS[b.status] ?? HEALTH_COLOURS.unknown!,
      });
      rect.append(
        svg(
          'title',
          {},
          `${rule}: ${b.status} from ${clock(new Date(b.from).toISOString())}${b.open ? ', still firing' : ` to ${clock(new Date(b.to).toISOString())}`}`,
        ),
      );
      root.append(rect);
    }
  });
  return root;
}

export class PulseSightView implements View {
  readonly name = 'pulsesight';
  readonly title = 'PulseSight';
  readonly element: HTMLElement;
  #shell: Shell;
  #list: HTMLElement;
  #detail: HTMLElement;
  #selected: string | undefined;

  constructor(shell: Shell) {
    this.#shell = shell;
    this.#list = h('ul', { class: 'pick-list', 'data-testid': 'pulsesight-resources' });
    this.#detail = h('div', { class: 'pulse-detail', 'data-testid': 'pulsesight-detail' });
    this.element = h('section', { class: 'view split-view', 'data-testid': 'view-pulsesight' }, h('aside', { class: 'side-list' }, this.#list), this.#detail);
  }

  async show(parameter?: string): Promise<void> {
    if (parameter) this.#selected = parameter;
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const { graph } = await this.#shell.api.query<{ graph: Subgraph }>(GRAPH);
    const nodes = [...graph.nodes].sort((a, b) => SEVERITY[a.health] - SEVERITY[b.health] || a.name.localeCompare(b.name));
    this.#selected ??= nodes[0]?.id;
    replaceChildren(this.#list, nodes.length === 0 ? h('li', { class: 'empty' }, 'No resources yet.') : nodes.map((n) => this.#item(n)));
    await this.#renderDetail();
    this.element.dataset.ready = 'true';
  }

  #item(node: GraphNode): HTMLElement {
    return h(
      'li',
      {
        class: `pick ${node.id === this.#selected ? 'active' : ''}`,
        'data-id': node.id,
        onclick: () => this.#shell.navigate('pulsesight', node.id),
      },
      h('span', { class: `dot ${healthClass(node.health)}` }),
      h('span', { class: 'pick-name' }, node.name || shortName(node.id)),
      h('span', { class: 'muted small' }, node.type),
    );
  }

  async #renderDetail(): Promise<void> {
    const id = this.#selected;
    if (!id) {
      replaceChildren(this.#detail, h('p', { class: 'empty' }, 'Pick a resource.'));
      return;
    }
    const [{ resource, runtimeEvents }, all] = await Promise.all([
      this.#shell.api.query<{
        resource: { id: string; name: string; type: string; health: Health; healthReason: string; healthHistory: HealthFact[] } | null;
        runtimeEvents: RuntimeEvent[];
      }>(HEALTH_HISTORY, { id }),
      this.#shell.api.query<{ runtimeEvents: RuntimeEvent[] }>(RUNTIME_EVENTS),
    ]);
    if (!resource) {
      replaceChildren(this.#detail, h('p', { class: 'empty' }, `Nothing is known as ${id}.`));
      return;
    }
    const facts = resource.healthHistory;
    replaceChildren(
      this.#detail,
      h(
        'header',
        { class: 'detail-head' },
        h('span', { class: `pill health-${healthClass(resource.health)}`, 'data-testid': 'pulsesight-health' }, healthClass(resource.health)),
        h('h2', {}, resource.name || shortName(resource.id)),
        h('span', { class: 'muted mono small' }, resource.id),
      ),
      resource.healthReason ? h('p', { class: 'reason' }, resource.healthReason) : null,
      h('h3', {}, 'Health history'),
      healthTimeline(facts),
      facts.length
        ? h(
            'table',
            { class: 'table compact' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['time', 'status', 'state', 'rule', 'value / threshold', 'reason'].map((c) => h('th', {}, c)),
              ),
            ),
            h(
              'tbody',
              {},
              facts.map((f) =>
                h(
                  'tr',
                  { 'data-testid': 'health-fact' },
                  h('td', { class: 'mono' }, clock(f.ts)),
                  h('td', {}, h('span', { class: `pill health-${healthClass(f.status)}` }, healthClass(f.status))),
                  h('td', {}, f.state),
                  h('td', {}, f.rule),
                  h('td', { class: 'num' }, `${round(f.value)} / ${round(f.threshold)}`),
                  h('td', {}, f.reason),
                ),
              ),
            ),
          )
        : h('p', { class: 'empty' }, 'No health facts on it.'),
      h('h3', {}, 'Runtime events'),
      this.#events(runtimeEvents.length ? runtimeEvents : [], all.runtimeEvents),
    );
  }

  #events(own: RuntimeEvent[], all: RuntimeEvent[]): HTMLElement {
    const table = (events: RuntimeEvent[]) =>
      h(
        'table',
        { class: 'table compact', 'data-testid': 'runtime-events' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['time', 'priority', 'rule', 'resource', 'output'].map((c) => h('th', {}, c)),
          ),
        ),
        h(
          'tbody',
          {},
          events.map((e) =>
            h(
              'tr',
              {},
              h('td', { class: 'mono' }, clock(e.ts)),
              h('td', {}, e.priority),
              h('td', {}, e.rule),
              h('td', {}, e.hostname || shortName(e.resourceId)),
              h('td', { class: 'small' }, e.output),
            ),
          ),
        ),
      );
    if (own.length) return table(own);
    if (all.length) return h('div', {}, h('p', { class: 'muted' }, 'None on this resource; the latest anywhere:'), table(all.slice(0, 20)));
    return h('p', { class: 'empty' }, 'No runtime events (Falco) in the last 24 hours.');
  }
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, '');
}
