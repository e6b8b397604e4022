// npm run fuzz [-- --long]: the intake fuzzer (fuzz.ts), FUZZ_N mutations per decoder (default
// 2 000; --long 1 000 000), seed FUZZ_SEED (default: the time); figures to bench/RESULTS.md.
import { fuzz } from './fuzz.js';
import { machine, writeResults } from '../../bench/common.js';

const long = process.argv.includes('--long');
const perTarget = Number(process.env.FUZZ_N ?? (long ? 1_000_000 : 2_000));
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
console.error(`fuzz: ${perTarget} mutations per decoder, seed ${seed}`);
const report = await fuzz(perTarget, seed, (line) => console.error(line));
const rows = Object.entries(report.byTarget).map(
  ([name, t]) =>
    `| ${name} | ${t.requests.toLocaleString('en')} | ${['2xx', '4xx', '5xx', 'no answer'].map((c) => (t.statuses[c] ?? 0).toLocaleString('en')).join(' | ')} | ${report.findings.filter((f) => f.target === name).length} |`,
);
const md = `## fuzz — ${new Date().toISOString().slice(0, 10)}

\`npm run fuzz\` (tests/fuzz): ${perTarget.toLocaleString('en')} structure-aware mutations per decoder (seed ${seed}) posted to the real receivers in front of the real processors (in-process bus). ${report.requests.toLocaleString('en')} requests in ${report.seconds.toFixed(0)} s (${Math.round(report.requests / report.seconds).toLocaleString('en')} requests/s, one client at a time). Machine: ${machine()}.

| decoder | requests | 2xx | 4xx | 5xx | no answer | findings |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Findings (5xx, no answer, over 10 s): ${report.findings.length}${report.findings.length ? ` — first: ${JSON.stringify(report.findings.slice(0, 5))}` : ''}. Intakes refusing a valid body afterwards: ${report.broken.length ? report.broken.join('; ') : 'none'}.`;
if (!process.env.FUZZ_NO_RESULTS) writeResults('fuzz', md);
console.log(md);
process.exit(report.findings.length || report.broken.length ? 1 : 0);
