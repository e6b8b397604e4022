import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandMacros, MacroError } from './macros.js';

// 2026-01-01T00:00:00.250Z → 2026-01-01T01:00:00.750Z, a 30 s interval.
const context = { from: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 250)), to: new Date(Date.UTC(2026, 0, 1, 1, 0, 0, 750)), intervalMs: 30_000 };
const FROM = 1767225600;
const TO = FROM + 3600;

test('each macro expands as the plugin backend expands it', () => {
  const cases: [string, string][] = [
    ['$__timeFilter(ts)', `ts >= toDateTime(${FROM}) AND ts <= toDateTime(${TO})`],
    ['$__timeFilter_ms(ts)', `ts >= fromUnixTimestamp64Milli(${FROM}250) AND ts <= fromUnixTimestamp64Milli(${TO}750)`],
    ['$__timeFrom(ts)', `ts >= toDateTime(${FROM})`],
    ['$__timeTo(ts)', `ts <= toDateTime(${TO})`],
    ['$__dateFilter(d)', "d >= toDate('2026-01-01') AND d <= toDate('2026-01-01')"],
    ['$__fromTime', `toDateTime(${FROM})`],
    ['$__toTime', `toDateTime(${TO})`],
    ['$__fromTime_ms', `fromUnixTimestamp64Milli(${FROM}250)`],
    ['$__toTime_ms', `fromUnixTimestamp64Milli(${TO}750)`],
    ['$__timeInterval(ts)', 'toStartOfInterval(toDateTime(ts), INTERVAL 30 second)'],
    ['$__timeInterval_ms(ts)', 'toStartOfInterval(toDateTime64(ts, 3), INTERVAL 30000 millisecond)'],
    ["$__timeGroup(ts, '5m')", 'toStartOfInterval(toDateTime(ts), INTERVAL 300 second)'],
    ['$__timeGroup(ts, 1h30m)', 'toStartOfInterval(toDateTime(ts), INTERVAL 5400 second)'],
    ['count() / $__interval_s', 'count() / 30'],
  ];
  for (const [sql, expanded] of cases) assert.equal(expandMacros(sql, context), expanded, sql);
});

test('arguments may hold calls, commas and parentheses inside strings; text around macros is kept', () => {
  assert.equal(
    expandMacros("SELECT 1 WHERE $__timeFilter(toDateTime(ts, 'UTC')) AND x = ')' AND $__timeFrom(coalesce(a, b))", context),
    `SELECT 1 WHERE toDateTime(ts, 'UTC') >= toDateTime(${FROM}) AND toDateTime(ts, 'UTC') <= toDateTime(${TO}) AND x = ')' AND coalesce(a, b) >= toDateTime(${FROM})`,
  );
  assert.equal(expandMacros('SELECT 1', context), 'SELECT 1');
});

test('the interval is whole seconds and never below one', () => {
  assert.equal(expandMacros('$__interval_s', { ...context, intervalMs: 1_500 }), '1');
  assert.equal(expandMacros('$__interval_s', { ...context, intervalMs: 200 }), '1');
  assert.equal(expandMacros('$__timeInterval(t)', { ...context, intervalMs: 200 }), 'toStartOfInterval(toDateTime(t), INTERVAL 1 second)');
});

test('bad macros and contexts are errors naming what is wrong', () => {
  const cases: [string, RegExp, typeof context?][] = [
    ['$__timeFliter(ts)', /unknown macro \$__timeFliter/],
    ['$__timeFilter', /\$__timeFilter expects 1 argument\(s\), received 0/],
    ['$__timeFilter(a, b)', /\$__timeFilter expects 1 argument\(s\), received 2/],
    ['$__fromTime(ts)', /\$__fromTime expects 0 argument\(s\), received 1/],
    ['$__timeFilter(ts', /\$__timeFilter: no closing parenthesis/],
    ["$__timeGroup(ts, 'often')", /\$__timeGroup: invalid interval "often"/],
    ["$__timeGroup(ts, '0s')", /\$__timeGroup: interval must be positive/],
    ['$__fromTime', /the time range ends before it starts/, { ...context, to: new Date(0) }],
    ['$__fromTime', /the interval must be positive/, { ...context, intervalMs: 0 }],
  ];
  for (const [sql, message, c] of cases)
    assert.throws(
      () => expandMacros(sql, c ?? context),
      (err: Error) => err instanceof MacroError && message.test(err.message),
      sql,
    );
});
