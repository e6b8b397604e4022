// What the fault tests send and how they drive their own broker.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './kafka.js';

/** scripts/kafka.sh with args (start DIR, stop DIR, resume DIR): its standard output. */
export const kafkaScript = (...args: string[]): string =>
  execFileSync('bash', [path.join(repoRoot, 'scripts/kafka.sh'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** OTLP/JSON: one trace of `n` server spans (span ids 1…n) of one service, timed now. */
export function traceBody(service: string, traceId: string, n: number): string {
  const now = `${Date.now()}000000`;
  const spans = Array.from({ length: n }, (_, k) => ({
    traceId,
    spanId: (k + 1).toString(16).padStart(16, '0'),
    name: 'work',
    kind: 2,
    startTimeUnixNano: now,
    endTimeUnixNano: now,
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans }] }] });
}
