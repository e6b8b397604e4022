/* How row values are written for ClickHouse where JSON has no word for them: time as ISO 8601, non-finite floats. */

/** Non-finite floats as ClickHouse reads them from JSON strings (JSON itself has no NaN or Inf). */
export function float(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
}

let lastMs = NaN;
let lastIso = '';
/** Unix milliseconds as ISO 8601; the samples of a request mostly share a timestamp, so the last one is kept. */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}
