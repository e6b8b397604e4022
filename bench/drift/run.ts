// bench/drift: a drift comparison of 100 000 resources — a Terraform state and a complete scan of
// the same estate (1 % modified, 0.5 % missing, 0.5 % unmanaged) through the intake parsers and
// the drift tracker — beside a plain JSON.parse of the same two documents in the same run.
import { machine, median, writeResults } from '../common.js';
import { parseScanBody, parseTerraformState } from '../../processors/inventory/records.js';
import { DriftTracker } from '../../processors/drift/tracker.js';
import { DriftIgnore } from '../../processors/drift/ignore.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = Number(process.env.BENCH_RESOURCES ?? 100_000);
const A = '123456789012';
const R = 'eu-west-1';
const P = 'provider["registry.terraform.io/hashicorp/aws"]';

const rule = (port: number, cidrs: string[]) => ({
  from_port: port,
  to_port: port,
  protocol: 'tcp',
  cidr_blocks: cidrs,
  ipv6_cidr_blocks: [],
  prefix_list_ids: [],
  security_groups: [],
  self: false,
  description: '',
});
const hex = (i: number) => i.toString(16).padStart(17, '0');

/** The i-th resource as state has it and as the cloud has it (undefined: not there). */
function resource(i: number): { tfType: string; state?: Record<string, unknown>; cloud?: Record<string, unknown>; tags: Record<string, string> } {
  const kind = i % 3;
  const missing = i % 200 === 1;
  const unmanaged = i % 200 === 2;
  const modified = i % 100 === 3;
  const tags = { Name: `r-${i}`, Team: `team-${i % 17}` };
  if (kind === 0) {
    const id = `sg-${hex(i)}`;
    const state = {
      arn: `arn:aws:ec2:${R}:${A}:security-group/${id}`,
      id,
      name: `sg-${i}`,
      description: 'Managed by Terraform',
      vpc_id: 'vpc-1',
      ingress: [rule(443, ['0.0.0.0/0']), rule(80, ['10.0.0.0/8', '0.0.0.0/0'])],
      egress: [{ ...rule(0, ['0.0.0.0/0']), protocol: '-1' }],
      tags,
      tags_all: tags,
      revoke_rules_on_delete: false,
      owner_id: A,
    };
    const cloud = {
      id,
      name: `sg-${i}`,
      description: '',
      vpc_id: 'vpc-1',
      ingress: [rule(80, ['0.0.0.0/0', '10.0.0.0/8']), rule(443, ['0.0.0.0/0']), ...(modified ? [rule(22, ['0.0.0.0/0'])] : [])],
      egress: [{ ...rule(0, ['0.0.0.0/0']), protocol: 'all' }],
    };
    return { tfType: 'aws_security_group', state: unmanaged ? undefined : state, cloud: missing ? undefined : cloud, tags };
  }
  if (kind === 1) {
    const id = `i-${hex(i)}`;
    const state = {
      arn: `arn:aws:ec2:${R}:${A}:instance/${id}`,
      id,
      ami: 'ami-1',
      instance_type: 't3.small',
      availability_zone: `${R}a`,
      subnet_id: 'subnet-1',
      vpc_security_group_ids: ['sg-1', 'sg-2'],
      private_ip: `10.0.${i % 250}.${i % 200}`,
      monitoring: false,
      ebs_optimized: false,
      tags,
      tags_all: tags,
    };
    const cloud = {
      ami: 'ami-1',
      instance_type: modified ? 't3.large' : 't3.small',
      availability_zone: `${R}a`,
      subnet_id: 'subnet-1',
      vpc_security_group_ids: ['sg-2', 'sg-1'],
      private_ip: `10.0.${i % 250}.${i % 200}`,
      source_dest_check: true,
      launch_time: '2026-11-01T00:00:00Z',
    };
    return { tfType: 'aws_instance', state: unmanaged ? undefined : state, cloud: missing ? undefined : cloud, tags };
  }
  const id = `subnet-${hex(i)}`;
  const state = {
    arn: `arn:aws:ec2:${R}:${A}:subnet/${id}`,
    id,
    cidr_block: `10.${i % 250}.0.0/24`,
    availability_zone: `${R}b`,
    vpc_id: 'vpc-1',
    map_public_ip_on_launch: false,
    tags,
    owner_id: A,
  };
  const cloud = { cidr_block: `10.${i % 250}.0.0/24`, availability_zone: `${R}b`, vpc_id: 'vpc-1', map_public_ip_on_launch: modified };
  return { tfType: 'aws_subnet', state: unmanaged ? undefined : state, cloud: missing ? undefined : cloud, tags };
}

const stateResources: unknown[] = [];
const scanResources: unknown[] = [];
for (let i = 0; i < N; i++) {
  const r = resource(i);
  if (r.state) stateResources.push({ mode: 'managed', type: r.tfType, name: `r${i}`, provider: P, instances: [{ schema_version: 1, attributes: r.state }] });
  if (r.cloud)
    scanResources.push({
      id:
        (r.state?.id as string | undefined) ??
        String(r.tfType === 'aws_security_group' ? `sg-${hex(i)}` : r.tfType === 'aws_instance' ? `i-${hex(i)}` : `subnet-${hex(i)}`),
      type: r.tfType,
      attributes: r.cloud,
      tags: r.tags,
    });
}
const stateBuf = Buffer.from(JSON.stringify({ version: 4, terraform_version: '1.9.8', serial: 1, lineage: 'bench', resources: stateResources }));
const scanBuf = Buffer.from(
  JSON.stringify({
    scan: {
      id: 'bench',
      provider: 'aws',
      account: A,
      region: R,
      completeness: 'complete',
      time: '2026-11-23T11:00:00Z',
      types: ['ec2:security-group', 'ec2:instance', 'ec2:subnet'],
    },
    resources: scanResources,
  }),
);

function seconds(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const reference: number[] = [];
const airdig: number[] = [];
const compareOnly: number[] = [];
let drifts: Record<string, number> = {};
for (let run = 0; run < RUNS + 1; run++) {
  const ref = seconds(() => {
    JSON.parse(stateBuf.toString('utf8'));
    JSON.parse(scanBuf.toString('utf8'));
  });
  let judge = 0;
  const ours = seconds(() => {
    const state = parseTerraformState(stateBuf, Date.parse('2026-11-23T10:00:00Z')).records;
    const scan = parseScanBody(scanBuf, 0).records;
    const tracker = new DriftTracker({ causeWindowMs: 3_600_000, ignore: new DriftIgnore() });
    state.forEach((r, i) => tracker.observeState(r, { at: 's', offset: i }));
    const end = scan.pop()!;
    scan.forEach((r, i) => tracker.observeScan(r, { at: 'c', offset: i }));
    let out: ReturnType<DriftTracker['observeScan']> = [];
    judge = seconds(() => (out = tracker.observeScan(end, { at: 'c', offset: scan.length })));
    drifts = {};
    for (const d of out) drifts[d.drift] = (drifts[d.drift] ?? 0) + 1;
  });
  if (run === 0) continue; // warm-up
  reference.push(N / ref);
  airdig.push(N / ours);
  compareOnly.push(N / judge);
  console.log(
    `run ${run}: JSON.parse ${Math.round(N / ref).toLocaleString('en')} resources/s, AirDig ${Math.round(N / ours).toLocaleString('en')} resources/s (comparison alone ${Math.round(N / judge).toLocaleString('en')}/s), drifts ${JSON.stringify(drifts)}`,
  );
}
const f = (x: number) => Math.round(x).toLocaleString('en');
const md = `## drift — ${new Date().toISOString().slice(0, 10)}

A Terraform state of ${f(stateResources.length)} managed resources (${(stateBuf.length / 1024 / 1024).toFixed(1)} MiB) and a complete scan of ${f(scanResources.length)} (${(scanBuf.length / 1024 / 1024).toFixed(1)} MiB): security groups with rules, instances, subnets, ${f(N)} identities in all; 1 % modified, 0.5 % missing, 0.5 % unmanaged, and every false-positive shape (rule and CIDR order, protocol spelling, provider defaults, computed attributes) on every resource. Drifts found per run: ${JSON.stringify(drifts)}. One core; median of ${RUNS} runs after a warm-up. Machine: ${machine()}.

| | resources/s per core | seconds for ${f(N)} | vs reference |
|---|---:|---:|---:|
| reference: \`JSON.parse\` of the state and the scan | ${f(median(reference))} | ${(N / median(reference)).toFixed(2)} | 1.00× |
| AirDig: parse and check both, identities, drift comparison with normalisation (\`parseTerraformState\`, \`parseScanBody\`, \`DriftTracker\`) | ${f(median(airdig))} | ${(N / median(airdig)).toFixed(2)} | ${(median(airdig) / median(reference)).toFixed(2)}× |
| of which the comparison alone (judging at the scan's end) | ${f(median(compareOnly))} | ${(N / median(compareOnly)).toFixed(2)} | ${(median(compareOnly) / median(reference)).toFixed(2)}× |

No target was set for drift; the numbers say where the time goes. Both intakes parse the whole document, check every resource, build its identity and re-serialise its attributes for the topic (Avro carries them as JSON text), and the tracker parses them again and normalises every attribute of every resource on both sides; the garbage collector takes a large share (a profile of one run: ~40 % GC). The comparison keeps parsed attributes per resource, so a second judgement (the next scan against the same state) does not parse the state again. Next steps if it matters: compare canonical texts cached per resource instead of rebuilding them per judgement, and judge only the resources a new scan or state changed.

Run: \`npm run bench:drift\` (BENCH_RUNS, BENCH_RESOURCES).`;
writeResults('drift', md);
console.log(md);
