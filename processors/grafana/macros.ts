/**
 * The Grafana ClickHouse plugin's SQL macros, expanded the way its backend expands them
 * (grafana/clickhouse-datasource pkg/macros/macros.go, at 1d04063a): a range in whole seconds
 * becomes toDateTime(<unix seconds>), a millisecond one fromUnixTimestamp64Milli(<unix ms>), a
 * bucket toStartOfInterval(...). The dashboards' tests run every panel's SQL through this before
 * sending it to AirDig's query endpoint, and the generator runs it once on every query so that a
 * misspelt macro fails the build instead of a panel.
 */

/** What a query is expanded for: the dashboard's time range and the panel's interval. */
export interface MacroContext {
  from: Date;
  to: Date;
  /** Grafana's $__interval for the panel, in milliseconds. */
  intervalMs: number;
}

export class MacroError extends Error {
  override name = 'MacroError';
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
const dateTime = (d: Date) => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
/** The plugin rounds the interval down to whole seconds and never below one. */
const intervalSeconds = (c: MacroContext) => Math.max(Math.floor(c.intervalMs / 1000), 1);

type Macro = { args: number; expand: (c: MacroContext, args: string[]) => string };

/** Go's time.ParseDuration for the plain forms $__timeGroup takes ("30s", "5m", "1h", "1h30m"). */
function durationSeconds(text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) throw new MacroError(`$__timeGroup: invalid interval "${text}"`);
  const total = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0));
  if (total <= 0) throw new MacroError(`$__timeGroup: interval must be positive, got "${text}"`);
  return total;
}

const MACROS: Record<string, Macro> = {
  timeFilter: { args: 1, expand: (c, [col]) => `${col} >= ${dateTime(c.from)} AND ${col} <= ${dateTime(c.to)}` },
  timeFilter_ms: { args: 1, expand: (c, [col]) => `${col} >= ${dateTime64(c.from)} AND ${col} <= ${dateTime64(c.to)}` },
  timeFrom: { args: 1, expand: (c, [col]) => `${col} >= ${dateTime(c.from)}` },
  timeTo: { args: 1, expand: (c, [col]) => `${col} <= ${dateTime(c.to)}` },
  dateFilter: { args: 1, expand: (c, [col]) => `${col} >= ${date(c.from)} AND ${col} <= ${date(c.to)}` },
  fromTime: { args: 0, expand: (c) => dateTime(c.from) },
  toTime: { args: 0, expand: (c) => dateTime(c.to) },
  fromTime_ms: { args: 0, expand: (c) => dateTime64(c.from) },
  toTime_ms: { args: 0, expand: (c) => dateTime64(c.to) },
  timeInterval: { args: 1, expand: (c, [col]) => `toStartOfInterval(toDateTime(${col}), INTERVAL ${intervalSeconds(c)} second)` },
  timeInterval_ms: {
    args: 1,
    expand: (c, [col]) => `toStartOfInterval(toDateTime64(${col}, 3), INTERVAL ${Math.max(Math.floor(c.intervalMs), 1)} millisecond)`,
  },
  timeGroup: {
    args: 2,
    expand: (_c, [col, period]) =>
      `toStartOfInterval(toDateTime(${col!.trim()}), INTERVAL ${durationSeconds(period!.trim().replace(/^['"]|['"]$/g, ''))} second)`,
  },
  interval_s: { args: 0, expand: (c) => String(intervalSeconds(c)) },
};

/** The macros this module expands, for the README and the tests. */
export const MACRO_NAMES: readonly string[] = Object.keys(MACROS);

/** Splits "a, f(b, c)" at its top-level commas; the text from `open` (just after "(") to the matching ")". */
function readArguments(sql: string, open: number, macro: string): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = open;
  let quote: string | undefined;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) {
        args.push(sql.slice(start, i).trim());
        return { args: args.length === 1 && args[0] === '' ? [] : args, end: i + 1 };
      }
      depth--;
    } else if (ch === ',' && depth === 0) {
      args.push(sql.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new MacroError(`$__${macro}: no closing parenthesis`);
}

/**
 * Expands every $__macro in sql for the context. Unlike the plugin, which leaves a macro it does
 * not know in the SQL for ClickHouse to reject, an unknown macro or a wrong number of arguments is
 * a MacroError naming it, so a dashboard's mistake is found where it is made.
 */
export function expandMacros(sql: string, context: MacroContext): string {
  if (!(context.from.getTime() <= context.to.getTime())) throw new MacroError('the time range ends before it starts');
  if (!(context.intervalMs > 0)) throw new MacroError(`the interval must be positive, got ${context.intervalMs} ms`);
  let out = '';
  let at = 0;
  for (const m of sql.matchAll(/\$__([A-Za-z_]+)/g)) {
    if (m.index! < at) continue;
    const name = m[1]!;
    const macro = MACROS[name];
    if (!macro) throw new MacroError(`unknown macro $__${name}`);
    let end = m.index! + m[0].length;
    let args: string[] = [];
    if (sql[end] === '(') ({ args, end } = readArguments(sql, end + 1, name));
    if (args.length !== macro.args) throw new MacroError(`$__${name} expects ${macro.args} argument(s), received ${args.length}`);
    out += sql.slice(at, m.index) + macro.expand(context, args);
    at = end;
  }
  return out + sql.slice(at);
}
