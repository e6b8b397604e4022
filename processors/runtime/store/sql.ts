/**
 * Just enough SQL lexing to split AirDig's own migration scripts into statements (ClickHouse's
 * HTTP interface takes one at a time). String literals, quoted identifiers and comments are
 * skipped, so a ';' inside them ends nothing. Never used on users' SQL: the engine parses that.
 */

export interface Token {
  text: string;
  /** 'word' (keyword or identifier), 'punct', 'string' (literal or quoted identifier). */
  kind: 'word' | 'punct' | 'string';
  start: number;
  end: number;
}

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '#' && (sql[i + 1] === ' ' || sql[i + 1] === '!')) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const start = i++;
      while (i < n && sql[i] !== c) i += sql[i] === '\\' ? 2 : 1;
      i++;
      out.push({ text: sql.slice(start, Math.min(i, n)), kind: 'string', start, end: Math.min(i, n) });
    } else if (/\s/.test(c)) {
      i++;
    } else if (/[A-Za-z_0-9.$]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z_0-9.$]/.test(sql[i]!)) i++;
      out.push({ text: sql.slice(start, i), kind: 'word', start, end: i });
    } else {
      out.push({ text: c, kind: 'punct', start: i, end: i + 1 });
      i++;
    }
  }
  return out;
}

/** Splits a script into statements at top-level semicolons; empty statements are dropped. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (const t of tokenize(sql)) {
    if (t.kind === 'punct' && t.text === ';') {
      const s = sql.slice(from, t.start).trim();
      if (tokenize(s).length > 0) out.push(s);
      from = t.end;
    }
  }
  const rest = sql.slice(from).trim();
  if (tokenize(rest).length > 0) out.push(rest);
  return out;
}
