/**
 * AirDig's web view: a single page over the graph API. The shell holds the tabs (one per view,
 * each also a URL hash: #unified, #skygraph, #deepdrift, #tracecore, #pulsesight[/<resource>],
 * #incident[/<id>]), the search box (any alias), the details panel, the token prompt and the live
 * updates: every subscription event patches what it can at once (a node's health colour) and
 * refetches the shown view shortly after, in place, without a reload.
 */
import './style.css';
import { Api } from './api.js';
import { DetailsPanel } from './details.js';
import { h } from './dom.js';
import { ON_CHANGE, ON_CORRELATION, ON_DRIFT, ON_HEALTH, ON_INCIDENT, RESOURCE_NAME, type HealthFact } from './queries.js';
import type { Shell, View } from './view.js';
import { DeepDriftView } from './views/deepdrift.js';
import { IncidentView } from './views/incident.js';
import { PulseSightView } from './views/pulsesight.js';
import { SkyGraphView } from './views/skygraph.js';
import { TraceCoreView } from './views/tracecore.js';
import { UnifiedView } from './views/unified.js';

const REFRESH_AFTER_EVENT_MS = 1_000;
const ALIASES: Record<string, string> = { incidents: 'incident' };

interface LiveEvent {
  type: string;
  at: number;
  data: unknown;
}

declare global {
  interface Window {
    /** Hooks for tests and the curious: the shown view's graph, every view's graph, the live events seen. */
    airdig: { cy: unknown; graphs: Record<string, unknown>; view: string; events: LiveEvent[]; busy: number };
  }
}

function tokenDialog(): (reason: string) => Promise<string> {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', 'data-testid': 'token-input', 'aria-label': 'API token' });
  const reason = h('p', { class: 'muted' });
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', {}, 'Token'),
    reason,
    input,
    h('div', { class: 'dialog-buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Use token')),
  );
  const dialog = h('dialog', { 'data-testid': 'token-dialog' }, form);
  document.body.append(dialog);
  return (why) =>
    new Promise((resolve) => {
      reason.textContent = `${why} It is kept in this tab only (sessionStorage).`;
      input.value = '';
      const done = () => {
        if (!input.value.trim()) {
          dialog.showModal();
          return;
        }
        dialog.removeEventListener('close', done);
        resolve(input.value.trim());
      };
      dialog.addEventListener('close', done);
      dialog.showModal();
      input.focus();
    });
}

class App implements Shell {
  readonly api: Api;
  readonly #views: View[];
  readonly #details: DetailsPanel;
  readonly #statusLine = h('div', { class: 'status', 'data-testid': 'status' });
  readonly #live = h('span', { class: 'live offline', 'data-testid': 'live', title: 'live updates' }, 'offline');
  readonly #tabs: HTMLElement;
  readonly #stage = h('main', { class: 'stage' });
  #current: View | undefined;
  #stale = new Set<string>();
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.api = new Api(tokenDialog(), (state) => {
      this.#live.className = `live ${state}`;
      this.#live.textContent = state;
    });
    this.#views = [
      new UnifiedView(this),
      new SkyGraphView(this),
      new DeepDriftView(this),
      new TraceCoreView(this),
      new PulseSightView(this),
      new IncidentView(this),
    ];
    this.#details = new DetailsPanel(this);
    this.#tabs = h(
      'nav',
      { class: 'tabs' },
      this.#views.map((v) => h('a', { href: `#${v.name}`, class: 'tab', 'data-testid': `tab-${v.name}`, 'data-view': v.name }, v.title)),
    );
    const search = h('input', { type: 'search', placeholder: 'Search: id, ARN, IP, DNS name, service…', 'data-testid': 'search', 'aria-label': 'search' });
    const form = h('form', { class: 'search', onsubmit: (e: Event) => (e.preventDefault(), void this.#search(search.value.trim())) }, search);
    document.body.append(
      h('header', { class: 'top' }, h('a', { class: 'brand', href: '#unified' }, h('span', { class: 'logo' }, '◆'), 'AirDig'), this.#tabs, form, this.#live),
      h('div', { class: 'body' }, this.#stage, this.#details.element),
      this.#statusLine,
    );
    for (const v of this.#views) {
      v.element.hidden = true;
      this.#stage.append(v.element);
    }
    window.airdig = { cy: undefined, graphs: Object.fromEntries(this.#views.filter((v) => v.cy).map((v) => [v.name, v.cy])), view: '', events: [], busy: 0 };
    window.addEventListener('hashchange', () => void this.#route());
    this.#subscribe();
    void this.#route();
  }

  navigate(view: string, parameter?: string): void {
    const hash = `#${view}${parameter ? `/${encodeURIComponent(parameter)}` : ''}`;
    if (location.hash === hash) void this.#route();
    else location.hash = hash;
  }

  status(message: string, error = false): void {
    this.#statusLine.textContent = message;
    this.#statusLine.classList.toggle('error', error);
  }

  selectResource(id: string): void {
    void this.#busy(async () => {
      const resource = await this.#details.open(id);
      if (!resource) this.status(`Nothing is known as "${id}".`, true);
      else this.#current?.focus?.(resource.id);
    });
  }

  async #route(): Promise<void> {
    const [name = '', ...rest] = location.hash.replace(/^#/, '').split('/');
    const wanted = ALIASES[name] ?? name;
    const view = this.#views.find((v) => v.name === wanted) ?? this.#views[0]!;
    const parameter = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
    if (this.#current !== view) {
      this.#current?.element.setAttribute('hidden', '');
      view.element.hidden = false;
      this.#current = view;
    }
    for (const tab of this.#tabs.querySelectorAll<HTMLElement>('.tab')) tab.classList.toggle('active', tab.dataset.view === view.name);
    window.airdig.cy = view.cy;
    window.airdig.view = view.name;
    document.title = `AirDig · ${view.title}`;
    await this.#busy(async () => {
      if (this.#stale.delete(view.name)) await view.refresh();
      await view.show(parameter);
    });
  }

  async #search(text: string): Promise<void> {
    if (!text) return;
    await this.#busy(async () => {
      const { resource } = await this.api.query<{ resource: { id: string; name: string } | null }>(RESOURCE_NAME, { id: text });
      if (!resource) {
        this.status(`Nothing is known as "${text}".`, true);
        return;
      }
      if (!this.#current?.focus?.(resource.id)) {
        // Not drawn here: Unified draws everything.
        const unified = this.#views[0]!;
        if (this.#current !== unified) {
          this.navigate(unified.name);
          await unified.show();
        }
        unified.focus?.(resource.id);
      }
      await this.#details.open(resource.id);
      this.status(`${text}: ${resource.id}`);
    });
  }

  /** Runs a piece of work, telling its failure in the status line (a test waits for busy to be 0). */
  async #busy(work: () => Promise<void>): Promise<void> {
    window.airdig.busy++;
    try {
      await work();
      if (this.#statusLine.classList.contains('error')) this.status('');
    } catch (err) {
      this.status(err instanceof Error ? err.message : String(err), true);
    } finally {
      window.airdig.busy--;
    }
  }

  #subscribe(): void {
    const record = (type: string, data: unknown) => {
      window.airdig.events.push({ type, at: Date.now(), data });
      if (window.airdig.events.length > 200) window.airdig.events.shift();
      this.#scheduleRefresh();
    };
    this.api.subscribe<{ healthChanged: HealthFact }>(ON_HEALTH, {}, ({ healthChanged: fact }) => {
      // Recolour at once where the resource is drawn; the refetch that follows settles it.
      if (fact.state !== 'resolved') {
        for (const v of this.#views) {
          const node = (v.cy as import('cytoscape').Core | undefined)?.getElementById(fact.resourceId);
          if (node?.nonempty()) node.data('health', fact.status.toLowerCase());
        }
      }
      record('healthChanged', fact);
    });
    this.api.subscribe(ON_INCIDENT, {}, (data) => record('incidentUpdated', data));
    this.api.subscribe(ON_DRIFT, {}, (data) => record('driftDetected', data));
    this.api.subscribe(ON_CHANGE, {}, (data) => record('changeRecorded', data));
    this.api.subscribe(ON_CORRELATION, {}, (data) => record('correlationAdded', data));
  }

  #scheduleRefresh(): void {
    for (const v of this.#views) this.#stale.add(v.name);
    // At most one refetch a second, however many events arrive.
    if (this.#refreshTimer) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      const view = this.#current;
      if (!view) return;
      this.#stale.delete(view.name);
      void this.#busy(async () => {
        await view.refresh();
        await this.#details.refresh();
      });
    }, REFRESH_AFTER_EVENT_MS);
  }
}

new App();
