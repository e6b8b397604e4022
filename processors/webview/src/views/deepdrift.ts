/**
 * DeepDrift: what differs between the Terraform state and the cloud as scanned, newest first —
 * the resource, the kind of drift, expected (Terraform) against actual (the scan), line by line for
 * lists such as security group rules, and the CloudTrail change found to have caused it.
 */
import { clock, h, replaceChildren, shortName } from '../dom.js';
import { DRIFT_LIST, type Drift } from '../queries.js';
import type { Shell, View } from '../view.js';

/** A value as lines a person compares: a list one line per item, a security group rule as "tcp 5432 → sg-0db". */
export function valueLines(value: string): string[] {
  if (!value) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed)) return parsed.map(itemLine);
    if (parsed && typeof parsed === 'object') return Object.entries(parsed).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
    return [String(parsed)];
  } catch {
    return [value];
  }
}

function itemLine(item: unknown): string {
  if (!item || typeof item !== 'object') return JSON.stringify(item);
  const r = item as Record<string, unknown>;
  if ('from_port' in r || 'protocol' in r) {
    const protocol = String(r.protocol ?? '');
    const ports = r.from_port === r.to_port ? String(r.from_port ?? '') : `${r.from_port}-${r.to_port}`;
    const peers = [...((r.cidr_blocks as string[]) ?? []), ...((r.security_groups as string[]) ?? [])].join(', ');
    return `${protocol === 'all' || protocol === '-1' ? 'all' : `${protocol} ${ports}`} → ${peers}${r.description ? ` (${r.description})` : ''}`;
  }
  return JSON.stringify(item);
}

/** Expected and actual side by side, the lines only one side has marked. */
function comparison(drift: Drift): [HTMLElement, HTMLElement] {
  const expected = valueLines(drift.expected);
  const actual = valueLines(drift.actual);
  const side = (lines: string[], other: string[], mark: string) =>
    h(
      'ul',
      { class: 'value-lines' },
      lines.length ? lines.map((l) => h('li', { class: other.includes(l) ? 'same' : mark }, l)) : h('li', { class: 'none' }, '(none)'),
    );
  return [side(expected, actual, 'only-expected'), side(actual, expected, 'only-actual')];
}

export class DeepDriftView implements View {
  readonly name = 'deepdrift';
  readonly title = 'DeepDrift';
  readonly element: HTMLElement;
  #shell: Shell;
  #body: HTMLElement;

  constructor(shell: Shell) {
    this.#shell = shell;
    this.#body = h('div', { class: 'table-wrap' });
    this.element = h(
      'section',
      { class: 'view list-view', 'data-testid': 'view-deepdrift' },
      h(
        'div',
        { class: 'toolbar' },
        h(
          'span',
          { class: 'hint' },
          'Terraform state (expected) against the cloud as scanned (actual); the cause is the CloudTrail change AirDig matched to it.',
        ),
      ),
      this.#body,
    );
  }

  async show(): Promise<void> {
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const { drift } = await this.#shell.api.query<{ drift: Drift[] }>(DRIFT_LIST);
    if (drift.length === 0) {
      replaceChildren(this.#body, h('p', { class: 'empty' }, 'No drift seen in the last 7 days.'));
    } else {
      replaceChildren(
        this.#body,
        h(
          'table',
          { class: 'table', 'data-testid': 'drift-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['seen', 'resource', 'drift', 'expected (Terraform)', 'actual (cloud)', 'cause (CloudTrail)'].map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            drift.map((d) => {
              const [expected, actual] = comparison(d);
              return h(
                'tr',
                { 'data-testid': 'drift-row', 'data-resource': d.resourceId, onclick: () => this.#shell.selectResource(d.resourceId) },
                h('td', { class: 'mono' }, clock(d.ts)),
                h(
                  'td',
                  {},
                  h('div', { class: 'strong' }, d.address || shortName(d.resourceId)),
                  h('div', { class: 'muted mono small' }, d.resourceType || d.resourceId),
                ),
                h('td', {}, h('span', { class: `pill drift-${d.kind.toLowerCase()}` }, d.kind.toLowerCase()), ' ', d.attribute),
                h('td', {}, expected),
                h('td', {}, actual),
                h(
                  'td',
                  { 'data-testid': 'drift-cause' },
                  d.causeEventName
                    ? [
                        h('div', { class: 'strong' }, `${shortName(d.causeActor)} ${d.causeEventName}`),
                        h('div', { class: 'muted mono small' }, `${clock(d.causeTs)} · ${d.causeEventId}`),
                      ]
                    : h('span', { class: 'muted' }, 'no change found'),
                ),
              );
            }),
          ),
        ),
      );
    }
    this.element.dataset.ready = 'true';
  }
}
