/** The details panel of one resource: what it is, its names, health, drift, changes, correlations and calls. */
import { clock, h, healthClass, percent, replaceChildren, shortName } from './dom.js';
import { RESOURCE, type Resource, type ServiceEdge } from './queries.js';
import type { Shell } from './view.js';
import { valueLines } from './views/deepdrift.js';

export class DetailsPanel {
  readonly element: HTMLElement;
  #body: HTMLElement;
  #shell: Shell;
  #id: string | undefined;

  constructor(shell: Shell) {
    this.#shell = shell;
    this.#body = h('div', { class: 'details-body' });
    this.element = h(
      'aside',
      { class: 'details', 'data-testid': 'details', hidden: true },
      h('button', { class: 'close', 'aria-label': 'close', title: 'close', onclick: () => this.close() }, '×'),
      this.#body,
    );
  }

  get resourceId(): string | undefined {
    return this.#id;
  }

  close(): void {
    this.#id = undefined;
    this.element.hidden = true;
  }

  /** Loads and shows a resource (any alias); returns it, or null when nothing has that name. */
  async open(id: string): Promise<Resource | null> {
    const { resource } = await this.#shell.api.query<{ resource: Resource | null }>(RESOURCE, { id });
    if (!resource) return null;
    this.#id = resource.id;
    this.#render(resource);
    this.element.hidden = false;
    return resource;
  }

  async refresh(): Promise<void> {
    if (this.#id) await this.open(this.#id);
  }

  #render(r: Resource): void {
    const edges = (title: string, list: ServiceEdge[], other: (e: ServiceEdge) => string) =>
      list.length
        ? [
            h('h4', {}, title),
            h(
              'ul',
              { class: 'plain' },
              list.map((e) =>
                h(
                  'li',
                  {},
                  h('span', { class: 'strong' }, shortName(other(e))),
                  ` ${e.calls} calls · ${percent(e.errorRatio)} errors · p95 ${Math.round(e.p95Ms)} ms`,
                ),
              ),
            ),
          ]
        : [];
    replaceChildren(
      this.#body,
      h(
        'header',
        { class: 'detail-head' },
        h('span', { class: `pill health-${healthClass(r.health)}`, 'data-testid': 'details-health' }, healthClass(r.health)),
        h('h2', { 'data-testid': 'details-name' }, r.name || shortName(r.id)),
      ),
      h('div', { class: 'mono small muted', 'data-testid': 'details-id' }, r.id),
      r.healthReason ? h('p', { class: 'reason' }, r.healthReason) : null,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'type'),
        h('dd', {}, r.type),
        h('dt', {}, 'where'),
        h('dd', {}, [r.provider, r.account, r.region].filter(Boolean).join(' · ') || '—'),
        h('dt', {}, 'criticality'),
        h('dd', {}, `${r.criticality} dependent service${r.criticality === 1 ? '' : 's'}`),
        h('dt', {}, 'seen'),
        h('dd', {}, `${clock(r.firstSeen)} – ${clock(r.lastSeen)}`),
      ),
      r.aliases.length
        ? [
            h('h4', {}, 'Also known as'),
            h(
              'div',
              { class: 'chips' },
              r.aliases.map((a) => h('span', { class: 'chip mono' }, a)),
            ),
          ]
        : null,
      r.openDrift.length
        ? [
            h('h4', {}, 'Open drift'),
            h(
              'ul',
              { class: 'plain' },
              r.openDrift.map((d) =>
                h(
                  'li',
                  {},
                  h('span', { class: `pill drift-${d.kind.toLowerCase()}` }, d.kind.toLowerCase()),
                  ` ${d.attribute}: expected ${valueLines(d.expected).join('; ') || '(none)'}, actual ${valueLines(d.actual).join('; ') || '(none)'}`,
                  d.causeEventName ? h('div', { class: 'muted small' }, `cause: ${shortName(d.causeActor)} ${d.causeEventName}`) : null,
                ),
              ),
            ),
          ]
        : null,
      r.changes.length
        ? [
            h('h4', {}, 'Recent changes'),
            h(
              'ul',
              { class: 'plain', 'data-testid': 'details-changes' },
              r.changes.map((c) =>
                h('li', {}, h('span', { class: 'mono' }, clock(c.ts)), ' ', h('span', { class: 'strong' }, shortName(c.actor)), ` ${c.eventName}`),
              ),
            ),
          ]
        : null,
      r.incidents.length
        ? [
            h('h4', {}, 'Incidents'),
            h(
              'ul',
              { class: 'plain' },
              r.incidents.map((i) =>
                h('li', {}, h('a', { href: `#incident/${encodeURIComponent(i.id)}` }, i.id), ` ${i.status.toLowerCase()}, opened ${clock(i.opened)}`),
              ),
            ),
          ]
        : null,
      r.correlations.length
        ? [
            h('h4', {}, 'Correlations'),
            h(
              'ul',
              { class: 'plain' },
              r.correlations.map((c) => h('li', {}, h('span', { class: `pill ${c.claim ? 'claim' : 'weak'}` }, c.score.toFixed(2)), ` ${c.explanation}`)),
            ),
          ]
        : null,
      edges('Called by', r.edgesIn, (e) => e.client),
      edges('Calls', r.edgesOut, (e) => e.server),
      h('div', { class: 'detail-links' }, h('a', { href: `#pulsesight/${encodeURIComponent(r.id)}` }, 'health history ↗')),
    );
  }
}
