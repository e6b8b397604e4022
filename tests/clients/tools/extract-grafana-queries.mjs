#!/usr/bin/env node
// Re-creates ../grafana-queries.json from a snapshot of github.com/grafana/clickhouse-datasource.
//
//   node tests/clients/tools/extract-grafana-queries.mjs <git dir of the plugin> [rev] > tests/clients/grafana-queries.json
//
// It reads the plugin's jest tests (git show <rev>:<file>), takes the SQL each named test expects
// (an `expectedSqlParts` array joined with ' ', or a `toBe(...)` / `rawSql:` string literal), and
// fills in the parameters: the trace id, the time-range macros (expanded the way the plugin's
// backend expands them, pkg/macros/macros.go: $__fromTime -> toDateTime(<unix s>)), and the
// database (the tests use "otel" in places; AirDig serves the OTel tables from `default`).
// Nothing else is changed, except in entries whose `derivation` is "adapted", which say how.
import { execFileSync } from 'node:child_process';

const [gitDir, rev = 'HEAD'] = process.argv.slice(2);
if (!gitDir) {
  console.error('usage: extract-grafana-queries.mjs <git dir> [rev]');
  process.exit(2);
}

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const FROM = 1767225600; // 2026-01-01T00:00:00Z
const TO = 1924992000; // 2031-01-01T00:00:00Z

const commit = execFileSync('git', ['-C', gitDir, 'rev-parse', rev], { encoding: 'utf8' }).trim();
const files = new Map();
const show = (path) => {
  if (!files.has(path)) {
    files.set(path, execFileSync('git', ['-C', gitDir, 'show', `${commit}:${path}`], { encoding: 'utf8' }));
  }
  return files.get(path);
};

// The text of one `it('<name>', ...)` block: from its start to the next it(/describe( line.
// Several describe()s can hold tests of the same name: `contains` picks the one meant.
const testBlock = (path, name, contains) => {
  const src = show(path);
  for (let start = src.indexOf(`it('${name}'`); start >= 0; start = src.indexOf(`it('${name}'`, start + 1)) {
    const rest = src.slice(start + 4);
    const m = rest.search(/\n\s*(it|describe)\(/);
    const block = m < 0 ? rest : rest.slice(0, m);
    if (!contains || block.includes(contains)) return block;
  }
  throw new Error(`${path}: no test named ${JSON.stringify(name)}${contains ? ` containing ${contains}` : ''}`);
};

// Evaluates a JS literal (string, template or array of them) taken from a test.
const evalLiteral = (text) => new Function('JSON_SENTINEL_KEY', `return (${text});`)('__json__');

// Finds the balanced literal that starts at `open` (a '[' or a quote) in `s`.
const literalAt = (s, open) => {
  const q = s[open];
  if (q === '[') {
    let depth = 0;
    let inStr = null;
    for (let i = open; i < s.length; i++) {
      const c = s[i];
      if (inStr) {
        if (c === '\\') i++;
        else if (c === inStr) inStr = null;
      } else if (c === "'" || c === '"' || c === '`') inStr = c;
      else if (c === '[') depth++;
      else if (c === ']' && --depth === 0) return s.slice(open, i + 1);
    }
  } else {
    for (let i = open + 1; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === q) return s.slice(open, i + 1);
    }
  }
  throw new Error('unterminated literal');
};

const expectedSql = (path, test, kind, contains) => {
  const block = testBlock(path, test, contains);
  let at;
  if (kind === 'parts') {
    at = block.indexOf('expectedSqlParts = [');
    if (at < 0) throw new Error(`${test}: no expectedSqlParts`);
    return evalLiteral(literalAt(block, block.indexOf('[', at))).join(' ');
  }
  const marker = kind === 'rawSql' ? /rawSql:\s*/ : /toBe\(\s*/;
  const m = marker.exec(block);
  if (!m) throw new Error(`${test}: no ${kind}`);
  return evalLiteral(literalAt(block, m.index + m[0].length));
};

const PARAMS = [
  ["'abcdefg'", `'${TRACE_ID}'`, 'trace id'],
  ['$__fromTime', `toDateTime(${FROM})`, 'time range start, as pkg/macros expands $__fromTime'],
  ['$__toTime', `toDateTime(${TO})`, 'time range end, as pkg/macros expands $__toTime'],
  ['"otel".', '"default".', 'database otel -> default'],
  ["database IN ('otel')", "database IN ('default')", 'database otel -> default'],
  ["database = 'otel'", "database = 'default'", 'database otel -> default'],
];

const replaceAll = (sql, from, to) => sql.split(from).join(to);

const SQLGEN = 'src/data/sqlGenerator.test.ts';
const VARS = 'src/data/CHVariableSupport.test.tsx';
const DS = 'src/data/CHDatasource.test.ts';

const specs = [
  // Trace view (trace id lookup).
  { name: 'trace_id_lookup', file: SQLGEN, test: 'generates trace ID query with OTel enabled', kind: 'parts' },
  {
    name: 'trace_id_lookup_no_ts_table',
    file: SQLGEN,
    test: 'generates an OTel trace ID query without the time range optimization when the trace timestamp table does not exist ',
    kind: 'parts',
  },
  {
    name: 'trace_id_lookup_events_links',
    file: SQLGEN,
    test: 'generates trace ID query with additional fields, flatten nested disabled',
    kind: 'parts',
    adapt: [
      ['"Kind" as kind,', '"SpanKind" as kind,', 'the OTel exporter column is SpanKind (src/otel.ts maps ColumnHint.TraceKind to SpanKind)'],
      ['"InstrumentationLibraryName" as instrumentationLibraryName, ', '', 'no such column in the OTel exporter schema, and src/otel.ts maps no column to it'],
      [
        '"InstrumentationLibraryVersion" as instrumentationLibraryVersion, ',
        '',
        'no such column in the OTel exporter schema, and src/otel.ts maps no column to it',
      ],
    ],
  },
  // Trace search / list.
  { name: 'trace_search', file: SQLGEN, test: 'generates trace search query', kind: 'parts' },
  // Logs (query builder, both otel_logs schema generations; AirDig's otel_logs has TimestampTime).
  {
    name: 'logs_timestamptime',
    file: SQLGEN,
    test: 'emits TimestampTime when FilterTime is mapped (collector-contrib v0.150.x and earlier schema)',
    kind: 'parts',
  },
  {
    name: 'logs_timestamp',
    file: SQLGEN,
    test: 'falls back to Time column when FilterTime is unmapped (collector-contrib v0.151.0+ schema)',
    kind: 'parts',
  },
  {
    name: 'logs_volume',
    file: DS,
    test: 'should render a sophisticated log volume query when log level field is set',
    kind: 'toEqual',
    adapt: [
      ['"created_at"', '"Timestamp"', "the test's time column; otel_logs has Timestamp"],
      ['"level"', '"SeverityText"', "the test's level column; otel_logs has SeverityText"],
      ['"default"."logs"', '"default"."otel_logs"', "the test's table; the OTel logs table is otel_logs"],
    ],
  },
  // Service / operation lists (query builder filter values, dashboard variables).
  {
    name: 'trace_service_names',
    file: DS,
    test: 'escapes identifiers for distinct column values',
    kind: 'toBe',
    fill: [
      ['"some""col"', '"ServiceName"', 'column'],
      ['"db""name"', '"default"', 'database'],
      ['"events"', '"otel_traces"', 'table'],
    ],
  },
  {
    name: 'trace_operation_names',
    file: DS,
    test: 'escapes identifiers for distinct column values',
    kind: 'toBe',
    fill: [
      ['"some""col"', '"SpanName"', 'column'],
      ['"db""name"', '"default"', 'database'],
      ['"events"', '"otel_traces"', 'table'],
    ],
  },
  {
    name: 'trace_span_attribute_values',
    file: DS,
    test: 'escapes map identifiers and map key literals for distinct map values',
    kind: 'toBe',
    fill: [
      ['"labels""map"', '"SpanAttributes"', 'map column'],
      ["'user\\'s key'", "'http.method'", 'map key'],
      ['"db"."events"', '"default"."otel_traces"', 'database.table'],
    ],
  },
  {
    name: 'trace_span_attribute_keys',
    file: DS,
    test: 'bounds the probe to a row-sampled subquery for free-form tables (no time column known)',
    kind: 'toBe',
    fill: [
      ['"labels"', '"SpanAttributes"', 'map column'],
      ['"db"."events"', '"default"."otel_traces"', 'database.table'],
    ],
  },
  {
    // The test asserts only the WHERE fragment (toContain); the rest of the statement is the
    // template in src/data/CHDatasource.ts fetchUniqueMapKeys(), which the previous entry's test
    // pins with toBe(). Checked below: the fragment must occur in the test.
    name: 'trace_span_attribute_keys_recent',
    file: DS,
    test: 'bounds the probe to the configured trace start-time column when target matches OTel traces table',
    kind: 'composed',
    fragment: ' WHERE "Timestamp" >= now() - INTERVAL 6 HOUR',
    sql: 'SELECT DISTINCT arrayJoin(mapKeys("SpanAttributes")) as keys FROM "otel"."otel_traces" WHERE "Timestamp" >= now() - INTERVAL 6 HOUR LIMIT 1000',
  },
  { name: 'logs_service_names', file: VARS, test: 'reads distinct values from a regular column', kind: 'toBe' },
  {
    name: 'logs_resource_attribute_values',
    file: VARS,
    test: 'reads distinct values from a Map column key when columnIsMap is set',
    kind: 'toBe',
  },
  // Metadata the query builder / variables / ad-hoc filters read.
  { name: 'databases', file: VARS, test: 'lists databases via system.databases', kind: 'toBe' },
  { name: 'tables', file: VARS, test: 'falls back to default database for tables when no database is selected', kind: 'toBe' },
  {
    name: 'columns_otel_traces',
    file: VARS,
    test: 'lists columns for a fully-specified database and table',
    kind: 'toBe',
    fill: [["table = 'otel_logs'", "table = 'otel_traces'", 'table']],
  },
  {
    name: 'tag_keys_otel_traces',
    file: DS,
    test: 'should Fetch Tags From the single-table traces source when no default database is set',
    kind: 'rawSql',
  },
  {
    name: 'desc_otel_traces',
    file: DS,
    test: 'sends a correct query when database and table names are provided',
    kind: 'rawSql',
    contains: 'DESC TABLE',
    fill: [['"db_name"."table_name"', '"default"."otel_traces"', 'database.table']],
  },
  { name: 'version', file: DS, test: 'does not throw when SELECT version() returns no rows (#1061)', kind: 'versionLiteral' },
];

const out = [];
for (const s of specs) {
  let sql;
  if (s.kind === 'toEqual') {
    const block = testBlock(s.file, s.test);
    const m = /toEqual\(\s*/.exec(block);
    // a concatenation of string literals: evaluate the whole expression up to the closing ');'
    const end = block.indexOf(');', m.index);
    sql = evalLiteral(block.slice(m.index + m[0].length, end));
  } else if (s.kind === 'composed') {
    const block = testBlock(s.file, s.test);
    if (!block.includes(`toContain('${s.fragment}')`)) throw new Error(`${s.name}: fragment not asserted by the test`);
    sql = s.sql;
  } else if (s.kind === 'versionLiteral') {
    const block = testBlock(s.file, s.test);
    const m = /rawSql === /.exec(block);
    sql = evalLiteral(literalAt(block, m.index + m[0].length));
  } else {
    sql = expectedSql(s.file, s.test, s.kind, s.contains);
  }
  const original = sql;
  const substitutions = [];
  for (const [from, to, why] of [...(s.fill ?? []), ...PARAMS]) {
    if (sql.includes(from)) {
      sql = replaceAll(sql, from, to);
      substitutions.push(`${from} -> ${to} (${why})`);
    }
  }
  const adaptations = [];
  for (const [from, to, why] of s.adapt ?? []) {
    if (!sql.includes(from)) throw new Error(`${s.name}: cannot adapt, ${from} not found`);
    sql = replaceAll(sql, from, to);
    adaptations.push(`${from} -> ${to || '(removed)'}: ${why}`);
  }
  out.push({
    name: s.name,
    sql,
    source: `grafana/clickhouse-datasource@${commit.slice(0, 12)} ${s.file}: it('${s.test}')`,
    derivation: adaptations.length
      ? 'adapted'
      : s.kind === 'composed'
        ? 'composed: test-asserted fragment + the generator template in src/data/CHDatasource.ts'
        : substitutions.length
          ? 'parameters filled'
          : 'verbatim',
    ...(substitutions.length ? { substitutions } : {}),
    ...(adaptations.length ? { adaptations } : {}),
    ...(original !== sql ? { before_substitution: original } : {}),
  });
}

// A top-level array, one object per statement; the parameters are in every entry's substitutions.
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
