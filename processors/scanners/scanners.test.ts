import assert from 'node:assert/strict';
import { test } from 'node:test';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { parseScanBody } from '../inventory/records.js';
import { ScopeTracker } from '../topology/scopes.js';
import type { TopologyRecord } from '../model/topology.js';
import { scanAws, type ScanBody } from './aws.js';
import { instanceOfProviderId, scanK8sJson } from './k8s.js';
import { listClusterObjects, readKubeconfig } from './k8s-api.js';
import { startMoto } from '../../tests/helpers/moto.js';
import { repoRoot } from '../../tests/helpers/kafka.js';

/** What the topology processor makes of a scan: through the intake's parser and the scope tracker, as POST /v1/resources does. */
function topology(body: ScanBody): { nodes: Map<string, TopologyRecord>; edges: Set<string>; errors: string[] } {
  const { records, errors } = parseScanBody(Buffer.from(JSON.stringify(body)), 0);
  const t = new ScopeTracker();
  const nodes = new Map<string, TopologyRecord>();
  const edges = new Set<string>();
  records.forEach((r, i) => {
    for (const x of t.observe(r, { at: 'scanner_resources\u00000', offset: i })) {
      if (x.kind === 'node') nodes.set(x.id, x);
      else edges.add(`${x.id} ${x.type} ${x.dst}`);
    }
  });
  return { nodes, edges, errors };
}

test('airdig scan aws against a local AWS emulator (moto): the estate becomes the expected nodes and edges', async () => {
  const moto = await startMoto();
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  try {
    const region = 'eu-west-1';
    const config = { region, endpoint: moto.url };
    const ec2 = new EC2Client(config);
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const subnetA = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'eu-west-1a' }))).Subnet!.SubnetId!;
    const subnetB = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.2.0/24', AvailabilityZone: 'eu-west-1b' }))).Subnet!.SubnetId!;
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web tier', VpcId: vpc }))).GroupId!;
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'https' }] }],
      }),
    );
    await ec2.send(new CreateTagsCommand({ Resources: [vpc], Tags: [{ Key: 'Name', Value: 'main' }] }));
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0fedcba9876543210',
        MinCount: 2,
        MaxCount: 2,
        InstanceType: 't3.small',
        SubnetId: subnetA,
        SecurityGroupIds: [sg],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'app' }] }],
      }),
    );
    const instances = run.Instances!.map((i) => i.InstanceId!);
    await new RDSClient(config).send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'orders',
        Engine: 'postgres',
        DBInstanceClass: 'db.t3.medium',
        AllocatedStorage: 100,
        MasterUsername: 'app',
        MasterUserPassword: 'secret-password',
        VpcSecurityGroupIds: [sg],
      }),
    );
    const elb = new ElasticLoadBalancingV2Client(config);
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'web', Subnets: [subnetA, subnetB], SecurityGroups: [sg] }))).LoadBalancers![0]!
      .LoadBalancerArn!;
    const tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'app', Protocol: 'HTTP', Port: 8080, VpcId: vpc, TargetType: 'instance' })))
      .TargetGroups![0]!.TargetGroupArn!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: instances.map((Id) => ({ Id })) }));

    const [body] = await scanAws({ regions: [region], endpoint: moto.url });
    assert.deepEqual(body!.scan.errors, []);
    assert.equal(body!.scan.completeness, 'complete');
    assert.equal(body!.scan.account, '123456789012');
    const { nodes, edges, errors } = topology(body!);
    assert.deepEqual(errors, []);
    const arn = (type: string, id: string) => `arn:aws:ec2:${region}:123456789012:${type}/${id}`;
    const has = (id: string, type: string) => assert.equal(nodes.get(id)?.type, type, `${type} ${id}`);
    has(arn('vpc', vpc), 'ec2:vpc');
    assert.equal(nodes.get(arn('vpc', vpc))!.name, 'main');
    has(arn('subnet', subnetA), 'ec2:subnet');
    has(arn('security-group', sg), 'ec2:security-group');
    for (const i of instances) has(arn('instance', i), 'ec2:instance');
    has(`arn:aws:rds:${region}:123456789012:db:orders`, 'rds:db');
    has(lb, 'elasticloadbalancing:loadbalancer');
    has(tg, 'elasticloadbalancing:targetgroup');
    const expectedEdges = [
      `${arn('subnet', subnetA)} member_of ${arn('vpc', vpc)}`,
      `${arn('security-group', sg)} member_of ${arn('vpc', vpc)}`,
      ...instances.flatMap((i) => [
        `${arn('instance', i)} member_of ${arn('subnet', subnetA)}`,
        `${arn('instance', i)} member_of ${arn('security-group', sg)}`,
        `${tg} routes_to ${arn('instance', i)}`,
      ]),
      `arn:aws:rds:${region}:123456789012:db:orders member_of ${arn('security-group', sg)}`,
      `${lb} member_of ${arn('subnet', subnetB)}`,
    ];
    for (const e of expectedEdges) assert.ok(edges.has(e), `edge ${e}`);
    // Each instance's network interface is attached to it.
    for (const i of instances)
      assert.ok(
        [...edges].some((e) => e.endsWith(` attached_to ${arn('instance', i)}`) && e.includes(':network-interface/')),
        `an ENI attached to ${i}`,
      );
    // Security group rules in Terraform's shape, for drift.
    const web = body!.resources.find((r) => r.id === arn('security-group', sg))!.attributes as { ingress: unknown[] };
    assert.deepEqual(web.ingress, [
      {
        from_port: 443,
        to_port: 443,
        protocol: 'tcp',
        cidr_blocks: ['0.0.0.0/0'],
        ipv6_cidr_blocks: [],
        prefix_list_ids: [],
        security_groups: [],
        self: false,
        description: 'https',
      },
    ]);

    // The emulator gone: every service fails, each reported by name and region; the scan is failed
    // (removes nothing) and the CLI exits non-zero.
    await moto.stop();
    const [down] = await scanAws({ regions: [region], endpoint: moto.url, account: '123456789012', maxAttempts: 1 });
    assert.equal(down!.scan.completeness, 'failed');
    assert.equal(down!.scan.errors.length, 11);
    assert.match(down!.scan.errors[0]!, /^ec2 DescribeVpcs eu-west-1: /);
    const [noAccount] = await scanAws({ regions: [region], endpoint: moto.url, maxAttempts: 1 });
    assert.match(noAccount!.scan.errors[0]!, /^sts GetCallerIdentity: /);
  } finally {
    await moto.stop();
  }
});

test('airdig scan k8s: kubectl JSON → pods on nodes, nodes on EC2 instances, services to pods, owners', () => {
  const text = readFileSync(path.join(repoRoot, 'processors/scanners/testdata/kubectl.json'), 'utf8');
  const { body, skipped } = scanK8sJson(text, { cluster: 'prod', awsAccount: '123456789012', now: 0 });
  assert.deepEqual(skipped, ['ConfigMap shop/settings']);
  assert.equal(body.scan.completeness, 'complete');
  const { nodes, edges, errors } = topology(body);
  assert.deepEqual(errors, []);
  assert.deepEqual([...nodes.keys()].sort(), [
    'k8s:prod//node/ip-10-0-1-10.eu-west-1.compute.internal',
    'k8s:prod/default/service/kubernetes',
    'k8s:prod/shop/deployment/checkout',
    'k8s:prod/shop/pod/checkout-7d9f8-abcde',
    'k8s:prod/shop/pod/checkout-7d9f8-fghij',
    'k8s:prod/shop/pod/redis-0',
    'k8s:prod/shop/replicaset/checkout-7d9f8',
    'k8s:prod/shop/service/checkout',
  ]);
  const node = 'k8s:prod//node/ip-10-0-1-10.eu-west-1.compute.internal';
  assert.deepEqual([...edges].sort(), [
    `${node} runs_on arn:aws:ec2:eu-west-1:123456789012:instance/i-0aaa0000000000001`,
    `k8s:prod/shop/pod/checkout-7d9f8-abcde owned_by k8s:prod/shop/replicaset/checkout-7d9f8`,
    `k8s:prod/shop/pod/checkout-7d9f8-abcde runs_on ${node}`,
    `k8s:prod/shop/pod/checkout-7d9f8-fghij owned_by k8s:prod/shop/replicaset/checkout-7d9f8`,
    `k8s:prod/shop/pod/checkout-7d9f8-fghij runs_on ${node}`,
    `k8s:prod/shop/pod/redis-0 runs_on ${node}`,
    'k8s:prod/shop/replicaset/checkout-7d9f8 owned_by k8s:prod/shop/deployment/checkout',
    'k8s:prod/shop/service/checkout routes_to k8s:prod/shop/pod/checkout-7d9f8-abcde',
    'k8s:prod/shop/service/checkout routes_to k8s:prod/shop/pod/checkout-7d9f8-fghij',
  ]);
  assert.equal(instanceOfProviderId('aws:///eu-west-1a/i-0aaa0000000000001', ''), undefined, 'no account: no guessed ARN');
  assert.equal(instanceOfProviderId('gce://project/zone/vm', '1'), undefined);
  // Only pods: a subset of the cluster, so partial (it must not mark the nodes gone).
  const podsOnly = JSON.stringify({ kind: 'List', items: (JSON.parse(text) as { items: { kind: string }[] }).items.filter((i) => i.kind === 'Pod') });
  assert.equal(scanK8sJson(podsOnly, { cluster: 'prod' }).body.scan.completeness, 'partial');
  assert.throws(() => scanK8sJson('pods:', { cluster: 'prod' }), /kubectl output is not JSON/);
});

test('airdig scan k8s from the API of a kubeconfig context: the same lists kubectl fetches, page by page, with its bearer token', async () => {
  const text = readFileSync(path.join(repoRoot, 'processors/scanners/testdata/kubectl.json'), 'utf8');
  const items = (JSON.parse(text) as { items: { kind: string }[] }).items;
  const paths: Record<string, string> = {
    '/api/v1/nodes': 'Node',
    '/api/v1/pods': 'Pod',
    '/api/v1/services': 'Service',
    '/apis/apps/v1/deployments': 'Deployment',
    '/apis/apps/v1/replicasets': 'ReplicaSet',
  };
  const requests: string[] = [];
  // The API server's list responses: items without kind, pages of `limit`, `continue` tokens.
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${url.pathname}?${url.searchParams}`);
    if (req.headers.authorization !== 'Bearer s3cret') return res.writeHead(401).end('{"kind":"Status","code":401}');
    const kind = paths[url.pathname];
    if (!kind) return res.writeHead(404).end();
    const all = items.filter((i) => i.kind === kind).map(({ kind: _k, ...rest }) => rest);
    const from = Number(url.searchParams.get('continue') ?? 0);
    const limit = Number(url.searchParams.get('limit'));
    const next = from + limit < all.length ? String(from + limit) : undefined;
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ kind: `${kind}List`, metadata: next ? { continue: next } : {}, items: all.slice(from, from + limit) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'airdig-kube-'));
    const config = path.join(dir, 'config');
    const port = (server.address() as { port: number }).port;
    writeFileSync(
      config,
      `apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: http://127.0.0.1:${port}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: scanner}\nusers:\n- name: scanner\n  user: {token: s3cret}\n`,
    );
    const target = readKubeconfig(config);
    assert.equal(target.cluster, 'prod');
    const fromApi = scanK8sJson(await listClusterObjects(target, 2), { cluster: 'prod', awsAccount: '123456789012', now: 0 });
    const fromFile = scanK8sJson(text, { cluster: 'prod', awsAccount: '123456789012', now: 0 });
    const byId = (b: ScanBody) => [...b.resources].sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(byId(fromApi.body), byId(fromFile.body));
    assert.equal(fromApi.body.scan.completeness, 'complete');
    assert.ok(requests.includes('/api/v1/pods?limit=2&continue=2'), 'three pods: two pages');
    writeFileSync(config, readFileSync(config, 'utf8').replace('token: s3cret', 'token: wrong'));
    await assert.rejects(listClusterObjects(readKubeconfig(config)), /GET \/api\/v1\/nodes\?limit=500: HTTP 401/);
    writeFileSync(config, readFileSync(config, 'utf8').replace('{token: wrong}', '{exec: {command: aws}}'));
    assert.throws(() => readKubeconfig(config), /exec or auth-provider plugin/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
