/**
 * Just enough SQL lexing for what AirDig must know about a statement without a parser: where
 * statements end, the leading keyword, a top-level FORMAT clause, and the table functions used.
 * String literals, quoted identifiers and comments are skipped, so a ';' or 'INSERT' inside them
 * counts for nothing.
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

export interface StatementInfo {
  /** Upper-case leading keyword: SELECT, WITH, SHOW, INSERT, … ('' when there is none). */
  keyword: string;
  /** The FORMAT named at parenthesis depth 0, if any. */
  format: string | undefined;
  /** Lower-case names of functions called in FROM position or anywhere as name(…). */
  functions: Set<string>;
  /** Setting names assigned in a top-level SETTINGS clause. */
  settings: Set<string>;
}

export function describeStatement(sql: string): StatementInfo {
  const tokens = tokenize(sql);
  let keyword = '';
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === '(') continue;
    keyword = t.kind === 'word' ? t.text.toUpperCase() : '';
    break;
  }
  let format: string | undefined;
  const functions = new Set<string>();
  const settings = new Set<string>();
  let depth = 0;
  let inSettings = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct') {
      if (t.text === '(') depth++;
      else if (t.text === ')') depth--;
      continue;
    }
    if (t.kind !== 'word') continue;
    const upper = t.text.toUpperCase();
    if (next?.kind === 'punct' && next.text === '(') functions.add(t.text.toLowerCase());
    if (depth !== 0) continue;
    if (upper === 'FORMAT' && next && next.kind !== 'punct') {
      format = next.kind === 'string' ? next.text.slice(1, -1) : next.text;
      inSettings = false;
    } else if (upper === 'SETTINGS') {
      inSettings = true;
    } else if (inSettings && next?.kind === 'punct' && next.text === '=') {
      settings.add(t.text.toLowerCase());
    }
  }
  return { keyword, format, functions, settings };
}
