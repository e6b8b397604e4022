/*
 * Request bodies for a notice: Alertmanager's webhook payload (version 4, one alert per
 * notification, so any Alertmanager receiver takes it), AirDig's own JSON, and Slack's
 * incoming-webhook message (a plain fallback `text` and mrkdwn blocks).
 */
import type { Format } from './config.js';
import { fingerprint, type Notice } from './notices.js';

/** What a body needs from the webhook it goes to. */
export interface BodyContext {
  /** The webhook's name: Alertmanager's `receiver`. */
  receiver: string;
  /** Base URL of AirDig's web view, for links; '' for none. */
  externalUrl: string;
  /** What the notice tells of its fact: new (first told, or again after its resolution), updated (a new top cause, a lead become a claim, a worse status), resolved. */
  change: Change;
}

export type Change = 'new' | 'updated' | 'resolved';

/** The change a notice tells, from the state told before it for its fact. */
export function changeOf(n: Notice, previous: string | undefined): Change {
  if (n.status === 'resolved') return 'resolved';
  return previous === undefined || previous === 'resolved' || previous === 'merged' ? 'new' : 'updated';
}

/** Go's zero time: what Alertmanager sends as endsAt of an alert that has not ended. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The web view's page of what a notice is about (its hash routes: #incident/ID, #deepdrift,
 * #pulsesight/RESOURCE); '' without an external_url.
 */
export function linkOf(n: Notice, externalUrl: string): string {
  if (!externalUrl) return '';
  const base = externalUrl.replace(/\/+$/, '');
  const r = n.record as { resource_id?: string; incident_id?: string };
  const page =
    n.kind === 'incident'
      ? `incident/${encodeURIComponent(n.id)}`
      : n.kind === 'correlation'
        ? `incident/${encodeURIComponent(r.incident_id!)}`
        : n.kind === 'drift'
          ? 'deepdrift'
          : `pulsesight/${encodeURIComponent(r.resource_id!)}`;
  return `${base}/#${page}`;
}

/** A label set as Alertmanager prints it in a groupKey: {a="x", b="y"}, names sorted. */
function labelSetText(labels: Record<string, string>): string {
  return `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ')}}`;
}

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface AlertmanagerPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
}

export function alertmanagerBody(n: Notice, c: BodyContext): AlertmanagerPayload {
  const annotations: Record<string, string> = {
    summary: n.summary,
    description: n.details.join('\n'),
    severity: n.severity,
    airdig_kind: n.kind,
    airdig_id: n.id,
    airdig_revision: String(n.revision),
    airdig_change: c.change,
  };
  // One alert per notification: its group is the fact itself, so a receiver's dedup by groupKey is the fact's.
  return {
    version: '4',
    groupKey: `{}:${labelSetText(n.labels)}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver: c.receiver,
    groupLabels: { ...n.labels },
    commonLabels: { ...n.labels },
    commonAnnotations: { ...annotations },
    externalURL: c.externalUrl,
    alerts: [
      {
        status: n.status,
        labels: { ...n.labels },
        annotations,
        startsAt: iso(n.startsMs),
        endsAt: n.endsMs ? iso(n.endsMs) : ZERO_TIME,
        generatorURL: linkOf(n, c.externalUrl),
        fingerprint: fingerprint(n.labels),
      },
    ],
  };
}

/** AirDig's own JSON: the record as decoded, with what kind of fact it is, its id and revision. */
export function jsonBody(n: Notice, c: BodyContext) {
  return {
    kind: n.kind,
    id: n.id,
    revision: n.revision,
    status: n.status,
    change: c.change,
    severity: n.severity,
    summary: n.summary,
    url: linkOf(n, c.externalUrl),
    record: n.record,
  };
}

/** Slack's limit on a section's and a context element's text. */
const SLACK_TEXT_MAX = 3_000;

/** Slack reads &, < and > as markup (<!channel> would ping everyone): escaped. */
const slackEscape = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const cut = (s: string, max = SLACK_TEXT_MAX) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const TITLES: Record<Notice['kind'], string> = { incident: 'Incident', correlation: 'Correlation', drift: 'Drift', health: 'Health' };

export function slackBody(n: Notice, c: BodyContext) {
  const mark =
    n.status === 'resolved'
      ? ':white_check_mark:'
      : n.severity === 'critical'
        ? ':red_circle:'
        : n.severity === 'warning'
          ? ':warning:'
          : ':information_source:';
  const title = `${TITLES[n.kind]} ${c.change === 'new' ? n.severity : c.change}`;
  const link = linkOf(n, c.externalUrl);
  const blocks: object[] = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: cut(`${mark} *${title}*${link ? ` · <${link}|open in AirDig>` : ''}\n${slackEscape(n.summary)}`) },
    },
  ];
  if (n.details.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: cut(slackEscape(n.details.join('\n'))) }] });
  // The fallback (what a phone notification shows) is the one-liner itself.
  return { text: cut(slackEscape(n.summary)), blocks };
}

export function bodyOf(format: Format, n: Notice, c: BodyContext): object {
  return format === 'alertmanager' ? alertmanagerBody(n, c) : format === 'slack' ? slackBody(n, c) : jsonBody(n, c);
}
