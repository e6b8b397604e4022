// bench/cloudtrail: CloudTrail records per second per core through parsing, checking and identity
// resolution (parseCloudTrailBody + changeEvent), beside a plain JSON.parse of the same log files
// in the same run. Input: S3-style log files built from the golden testdata's record shapes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCloudTrailBody, changeEvent } from '../../processors/cloudtrail/records.js';
import { machine, median, repoRoot, writeResults } from '../common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FILES = 20;
const RECORDS_PER_FILE = 2_000;

const shapes = (
  JSON.parse(readFileSync(path.join(repoRoot, 'processors/cloudtrail/testdata/cloudtrail-s3.json'), 'utf8')) as { Records: Record<string, unknown>[] }
).Records;
const files: Buffer[] = [];
let n = 0;
for (let f = 0; f < FILES; f++) {
  const Records = Array.from({ length: RECORDS_PER_FILE }, () => {
    const r = structuredClone(shapes[n % shapes.length]!);
    r.eventID = `bench-${n++}`;
    return r;
  });
  files.push(Buffer.from(JSON.stringify({ Records })));
}
const total = FILES * RECORDS_PER_FILE;
const bytes = files.reduce((a, b) => a + b.length, 0);

function time(fn: () => number): number {
  const t = process.hrtime.bigint();
  const records = fn();
  return records / (Number(process.hrtime.bigint() - t) / 1e9);
}

const reference: number[] = [];
const airdig: number[] = [];
for (let run = 0; run < RUNS + 1; run++) {
  const ref = time(() => {
    let k = 0;
    for (const f of files) k += (JSON.parse(f.toString('utf8')) as { Records: unknown[] }).Records.length;
    return k;
  });
  let resolved = 0;
  const ours = time(() => {
    let k = 0;
    for (const f of files) {
      for (const r of parseCloudTrailBody(f).records) {
        if (changeEvent(r).resource_ids.length) resolved++;
        k++;
      }
    }
    return k;
  });
  if (run === 0) continue; // warm-up
  reference.push(ref);
  airdig.push(ours);
  console.log(
    `run ${run}: JSON.parse ${Math.round(ref).toLocaleString('en')} records/s, AirDig ${Math.round(ours).toLocaleString('en')} records/s (${resolved} of ${total} resolved)`,
  );
}
const f = (x: number) => Math.round(x).toLocaleString('en');
const ratio = median(airdig) / median(reference);
const md = `## cloudtrail — ${new Date().toISOString().slice(0, 10)}

${FILES} S3-style log files × ${RECORDS_PER_FILE.toLocaleString('en')} records (${(bytes / FILES / 1024).toFixed(0)} KiB each, unzipped), cycling the ${shapes.length} record shapes of processors/cloudtrail/testdata (EC2, RDS, ELBv2, IAM, S3, Lambda, EKS, ECS, KMS, sign-in); one core; median of ${RUNS} runs after a warm-up. Machine: ${machine()}.

| | records/s per core | vs reference |
|---|---:|---:|
| reference: \`JSON.parse\` of the files | ${f(median(reference))} | 1.00× |
| AirDig: parse, check, normalise, resolve resources (\`parseCloudTrailBody\` + \`changeEvent\`) | ${f(median(airdig))} | ${ratio.toFixed(2)}× |

Target ≥ 50 000 records/s per core: ${median(airdig) >= 50_000 ? 'met' : 'not met'}.

Run: \`npm run bench:cloudtrail\` (BENCH_RUNS).`;
writeResults('cloudtrail', md);
console.log(md);
