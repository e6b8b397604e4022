/* `airdig ingest` and `airdig scan`: files and scans sent to a running AirDig's OTLP HTTP port. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../runtime/errors.js';
import { isGzip } from '../runtime/http.js';
import { UsageError, fetchAirdig, parseCommand } from './args.js';
import type { ScanBody } from '../scanners/aws.js';
import { scanK8sJson } from '../scanners/k8s.js';
import { listClusterObjects, readKubeconfig } from '../scanners/k8s-api.js';

export const INGEST_HELP = `Usage: airdig ingest cloudtrail|tfstate|resources FILE... [--url URL] [--token TOKEN]

Sends files to a running airdig (its OTLP HTTP port):
  cloudtrail   CloudTrail log files as stored in S3 (.json.gz or .json), EventBridge events → /v1/cloudtrail
  tfstate      Terraform state files (format v4; terraform state pull > state.json) → /v1/terraform-state
  resources    scans (resource inventories, the /v1/resources JSON) → /v1/resources

  --url URL      the OTLP HTTP endpoint (default http://127.0.0.1:4318)
  --token TOKEN  bearer token, when the receiver requires one`;

export const SCAN_HELP = `Usage: airdig scan aws|k8s [options]

Scans what exists and sends it to a running airdig (POST /v1/resources), or writes the scan JSON.

  airdig scan aws [--region R[,R…]] [--endpoint URL]
      Describe/List calls for VPCs, subnets, security groups, instances, network interfaces, volumes,
      RDS, load balancers and target groups, Lambda, EKS; one scan per region. Credentials from the
      usual AWS chain (environment, profile, instance role). --region defaults to $AWS_REGION.
      --endpoint sends every call to one endpoint (a local emulator).
  airdig scan k8s [--file FILE | --kubeconfig FILE [--context NAME]] [--cluster NAME] [--aws-account ID]
      kubectl get pods,nodes,services,deployments,replicasets -A -o json from FILE or stdin, or the
      same lists from the API of a kubeconfig's context (with no --file on a terminal: $KUBECONFIG
      or ~/.kube/config). --cluster defaults to the context's cluster.
      --aws-account links nodes to their EC2 instances through spec.providerID.

  --url URL      the OTLP HTTP endpoint (default http://127.0.0.1:4318)
  --token TOKEN  bearer token, when the receiver requires one
  --out FILE     write the scan JSON to FILE ("-": stdout) instead of sending it`;

const PATHS: Record<string, string> = { cloudtrail: '/v1/cloudtrail', tfstate: '/v1/terraform-state', resources: '/v1/resources' };

async function post(url: string, path: string, body: Buffer, token: string | undefined): Promise<{ ok: boolean; text: string }> {
  const gzip = isGzip(body);
  const target = new URL(path, url);
  const res = await fetchAirdig(target, {
    method: 'POST',
    body,
    headers: { 'Content-Type': gzip ? 'application/gzip' : 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.text();
  if (res.ok) return { ok: true, text };
  let message = text;
  try {
    message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
  } catch {
    // not JSON: the text as it came
  }
  return { ok: false, text: `HTTP ${res.status}: ${message}` };
}

const common = { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function runIngest(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, common, INGEST_HELP);
  if (values.help) {
    console.log(INGEST_HELP);
    return 0;
  }
  const [what, ...files] = positionals;
  const endpoint = PATHS[what ?? ''];
  if (!endpoint) throw new UsageError(`ingest: say what the files are: cloudtrail, tfstate or resources\n\n${INGEST_HELP}`);
  if (files.length === 0) throw new UsageError(`ingest ${what}: no files given\n\n${INGEST_HELP}`);
  let failed = 0;
  for (const file of files) {
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch (err) {
      process.stderr.write(`${file}: ${errorMessage(err)}\n`);
      failed++;
      continue;
    }
    const r = await post(values.url ?? 'http://127.0.0.1:4318', endpoint, body, values.token);
    if (r.ok) console.log(`${file}: ${r.text}`);
    else {
      process.stderr.write(`${file}: ${r.text}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runScan(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    {
      ...common,
      out: { type: 'string' },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      file: { type: 'string' },
      cluster: { type: 'string' },
      'aws-account': { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
    },
    SCAN_HELP,
  );
  if (values.help) {
    console.log(SCAN_HELP);
    return 0;
  }
  let bodies: ScanBody[];
  let problems = 0;
  if (positionals[0] === 'aws') {
    const regions = (values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    if (regions.length === 0) throw new UsageError(`scan aws: no region: give --region or set AWS_REGION\n\n${SCAN_HELP}`);
    // The AWS SDK is imported only by the command that calls AWS: every other command starts without it.
    const { scanAws } = await import('../scanners/aws.js');
    bodies = await scanAws({ regions, endpoint: values.endpoint });
    for (const b of bodies) {
      process.stderr.write(`scan aws ${b.scan.account}/${b.scan.region}: ${b.resources.length} resources, ${b.scan.completeness}\n`);
      for (const e of b.scan.errors) process.stderr.write(`  ${e}\n`);
      if (b.scan.completeness !== 'complete') problems++;
    }
  } else if (positionals[0] === 'k8s') {
    let text: string;
    let cluster = values.cluster ?? '';
    const defaultConfig = process.env.KUBECONFIG?.split(':')[0] || path.join(homedir(), '.kube/config');
    const kubeconfig = values.kubeconfig ?? (!values.file && process.stdin.isTTY && existsSync(defaultConfig) ? defaultConfig : undefined);
    if (values.file) text = readFileSync(values.file, 'utf8');
    else if (kubeconfig) {
      const target = readKubeconfig(kubeconfig, values.context);
      cluster ||= target.cluster;
      text = await listClusterObjects(target);
    } else text = await readStdin();
    const { body, skipped } = scanK8sJson(text, { cluster, awsAccount: values['aws-account'] });
    process.stderr.write(
      `scan k8s ${body.scan.cluster || '(no --cluster)'}: ${body.resources.length} resources, ${body.scan.completeness}${skipped.length ? `, ${skipped.length} items of other kinds skipped` : ''}\n`,
    );
    bodies = [body];
  } else {
    throw new UsageError(`scan: say what to scan: aws or k8s\n\n${SCAN_HELP}`);
  }
  if (values.out !== undefined) {
    const json = JSON.stringify(bodies.length === 1 ? bodies[0] : bodies, null, 2);
    if (values.out === '-') process.stdout.write(`${json}\n`);
    else writeFileSync(values.out, json);
    return problems ? 1 : 0;
  }
  for (const b of bodies) {
    const r = await post(values.url ?? 'http://127.0.0.1:4318', PATHS.resources!, Buffer.from(JSON.stringify(b)), values.token);
    if (r.ok) console.log(r.text);
    else {
      process.stderr.write(`${r.text}\n`);
      problems++;
    }
  }
  return problems ? 1 : 0;
}
