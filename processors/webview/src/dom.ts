/** A few DOM helpers, so that views build their markup as values instead of HTML strings. */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;

/** An element with attributes (on* keys become listeners; false/undefined leave the attribute out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'class') element.className = String(value);
    // Through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' still allows.
    else if (key === 'style') element.style.cssText = String(value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** "10:02:13" in UTC, the time line's unit; the date too when it is not today. */
export function clock(ts: string | null | undefined): string {
  if (!ts) return '—';
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return ts;
  const iso = date.toISOString();
  const today = new Date().toISOString().slice(0, 10);
  return iso.slice(0, 10) === today ? iso.slice(11, 19) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** A signed offset between two times, "+2m10s". */
export function offset(from: string, to: string): string {
  const seconds = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  if (!Number.isFinite(seconds)) return '';
  const sign = seconds < 0 ? '−' : '+';
  const s = Math.abs(seconds);
  return s < 60 ? `${sign}${s}s` : `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function percent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined) return '—';
  const p = ratio * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(p >= 1 ? 1 : 2)} %`;
}

/** The short name a person reads: the last segment of an ARN or canonical id. */
export function shortName(id: string): string {
  const tail = id.split(/[/:]/).filter(Boolean).pop();
  return tail ?? id;
}

export function healthClass(health: string | null | undefined): string {
  return (health ?? 'unknown').toLowerCase();
}
