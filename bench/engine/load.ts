// The load of bench/engine: an estate of cells (one VPC each, 5 000 resources: subnets, security
// groups, instances with their volumes and network interfaces, RDS, load balancers and target
// groups, Lambda functions, a Kubernetes cluster's nodes, deployments, replica sets, pods and
// services, and the services traces see, with their calls), written as the topology processor and
// placement write it on airdig.topology; and a stream in event time of changes, health facts, call
// edges and a little topology churn, every record encoded as on the bus. Deterministic: the same
// arguments give the same bytes (the Kafka feeder in a child process makes the same load).
import { seeded } from '../../processors/demo/traffic.js';
import { changeCodec, CHANGES_TOPIC, type ChangeEvent } from '../../processors/model/changes.js';
import { healthCodec, HEALTH_TOPIC, type HealthFact } from '../../processors/model/health.js';
import { edgeCodec, edgeKey, edgeSides, EDGES_TOPIC, type EdgeFact } from '../../processors/model/edges.js';
import { topologyCodec, topologyKey, TOPOLOGY_TOPIC, type TopologyRecord } from '../../processors/model/topology.js';
import { k8sObjectId, serviceId } from '../../processors/identity/ids.js';

export const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
export const RESOURCES_PER_CELL = 5_000;
const MIN = 60_000;

export interface LoadOptions {
  /** Resources in the graph (a multiple of 5 000). */
  resources: number;
  /** Simulated minutes of the stream. */
  minutes: number;
  /** Per simulated minute. */
  changesPerMin: number;
  signalsPerMin: number;
  edgesPerMin: number;
  /** Topology records per minute (pods moved, instances launched and terminated). */
  churnPerMin: number;
  /** Planted incidents per minute: a breaking change and the signals on what depends on it. */
  plantedPerMin: number;
  /** Event time of the stream's start. */
  t0: number;
  seed?: number;
}

export interface Message {
  topic: string;
  key: string;
  value: Buffer;
  ts: number;
}

export interface Planted {
  causeId: string;
  signalIds: string[];
}

export interface Load {
  /** The graph's records as the topic holds them. */
  topology: Message[];
  nodes: number;
  /** Every call pair once, before the stream (what the changelog of a running engine holds). */
  calls: Message[];
  /** The stream's next simulated minute, in event-time order (undefined past the last). */
  nextMinute(): Message[] | undefined;
  /** Records of the minutes given so far. */
  counts: { changes: number; health: number; firing: number; edges: number; topology: number };
  /** Planted incidents so far. */
  planted: Planted[];
  /** Resources a probe can use: a security group and a service on an instance in it. */
  probeTargets: { sg: string; service: string }[];
}

/** The whole stream at once. */
export function wholeStream(load: Load): Message[] {
  const out: Message[] = [];
  for (let m = load.nextMinute(); m; m = load.nextMinute()) for (const r of m) out.push(r);
  return out;
}

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');
const ec2 = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;

interface Instance {
  id: string;
  ip: string;
  sgs: string[];
  services: string[];
}
interface Service {
  id: string;
  name: string;
  ns: string;
  /** Where it runs: instances (with their IPs) or pods. */
  instances: Instance[];
}
interface Cell {
  vpc: string;
  subnets: string[];
  sgs: string[];
  instances: Instance[];
  volumes: string[];
  enis: string[];
  rds: { id: string; name: string; endpoint: string; callers: string[] }[];
  lbs: { id: string; services: string[] }[];
  tgs: string[];
  lambdas: string[];
  k8sNodes: string[];
  pods: string[];
  /** Where each pod runs now. */
  podNode: string[];
  services: Service[];
  sgServices: Map<string, Set<string>>;
}

class Graph {
  readonly records: TopologyRecord[] = [];
  nodes = 0;

  node(id: string, type: string, name: string, aliases: string[], source = 'scanner', attributes: Record<string, string> = {}): void {
    this.nodes++;
    this.records.push({
      kind: 'node',
      id,
      dst: '',
      type,
      provider: source === 'scanner' ? (id.startsWith('k8s:') ? 'k8s' : 'aws') : '',
      account: source === 'scanner' && !id.startsWith('k8s:') ? ACCOUNT : '',
      region: source === 'scanner' && !id.startsWith('k8s:') ? REGION : '',
      name,
      attributes: { ...attributes, ...(aliases.length ? { aliases: aliases.join(',') } : {}), ...(source === 'scanner' ? { scope: 'bench' } : {}) },
      seen_ms: 0,
      source,
      gone: false,
    });
  }

  edge(src: string, type: string, dst: string, source = 'scanner'): void {
    this.records.push(edgeRecord(src, type, dst, source, false, 0));
  }
}

function edgeRecord(src: string, type: string, dst: string, source: string, gone: boolean, seen: number): TopologyRecord {
  return { kind: 'edge', id: src, dst, type, provider: '', account: '', region: '', name: '', attributes: {}, seen_ms: seen, source, gone };
}

/** One VPC's 5 000 resources. */
function cell(g: Graph, v: number): Cell {
  const vpcId = `vpc-${hex(v)}`;
  const vpc = ec2('vpc', vpcId);
  g.node(vpc, 'ec2:vpc', `vpc-${v}`, [vpcId]);
  const subnets = Array.from({ length: 20 }, (_, s) => {
    const id = `subnet-${hex(v * 100 + s)}`;
    const a = ec2('subnet', id);
    g.node(a, 'ec2:subnet', `subnet-${v}-${s}`, [id]);
    g.edge(a, 'member_of', vpc);
    return a;
  });
  const sgs = Array.from({ length: 100 }, (_, k) => {
    const id = `sg-${hex(v * 1000 + k)}`;
    const a = ec2('security-group', id);
    g.node(a, 'ec2:security-group', `sg-${v}-${k}`, [id]);
    g.edge(a, 'member_of', vpc);
    return a;
  });
  const instances: Instance[] = [];
  const volumes: string[] = [];
  const enis: string[] = [];
  for (let i = 0; i < 900; i++) {
    const short = `i-${hex(v * 10_000 + i)}`;
    const id = ec2('instance', short);
    const ip = `10.${v}.${i >> 8}.${i & 255}`;
    const groups = [sgs[i % 100]!, sgs[(i * 7 + 3) % 100]!];
    g.node(id, 'ec2:instance', `vm-${v}-${i}`, [short, ip, `ip-${ip.replaceAll('.', '-')}.${REGION}.compute.internal`]);
    g.edge(id, 'member_of', subnets[i % 20]!);
    for (const sg of new Set(groups)) g.edge(id, 'member_of', sg);
    instances.push({ id, ip, sgs: [...new Set(groups)], services: [] });
    const volShort = `vol-${hex(v * 10_000 + i)}`;
    const vol = ec2('volume', volShort);
    g.node(vol, 'ec2:volume', `vol-${v}-${i}`, [volShort]);
    g.edge(vol, 'attached_to', id);
    volumes.push(vol);
    const eniShort = `eni-${hex(v * 10_000 + i)}`;
    const eni = ec2('network-interface', eniShort);
    g.node(eni, 'ec2:network-interface', `eni-${v}-${i}`, [eniShort, `10.${128 + v}.${i >> 8}.${i & 255}`]);
    g.edge(eni, 'attached_to', id);
    g.edge(eni, 'member_of', subnets[i % 20]!);
    g.edge(eni, 'member_of', sgs[i % 100]!);
    enis.push(eni);
  }
  const rds = Array.from({ length: 50 }, (_, r) => {
    const name = `db-${v}-${r}`;
    const endpoint = `${name}.c9akciq32.${REGION}.rds.amazonaws.com`;
    const id = `arn:aws:rds:${REGION}:${ACCOUNT}:db:${name}`;
    g.node(id, 'rds:db', name, [name, endpoint]);
    g.edge(id, 'member_of', sgs[(r * 3) % 100]!);
    return { id, name, endpoint, callers: [] as string[] };
  });
  const lambdas = Array.from({ length: 4 }, (_, f) => {
    const name = `fn-${v}-${f}`;
    const id = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
    g.node(id, 'lambda:function', name, [name]);
    g.edge(id, 'member_of', subnets[f]!);
    g.edge(id, 'member_of', sgs[f]!);
    return id;
  });
  // The cluster: its nodes run on the cell's first 100 instances.
  const cluster = `prod-${v}`;
  const ns = `ns-${v}`;
  const k8sNodes = Array.from({ length: 100 }, (_, n) => {
    const id = k8sObjectId(cluster, '', 'Node', `node-${v}-${n}`);
    g.node(id, 'k8s:node', `node-${v}-${n}`, []);
    g.edge(id, 'runs_on', instances[n]!.id);
    return id;
  });
  const deployments = Array.from({ length: 50 }, (_, d) => {
    const id = k8sObjectId(cluster, ns, 'Deployment', `dep-${d}`);
    g.node(id, 'k8s:deployment', `dep-${d}`, []);
    return id;
  });
  const replicaSets = Array.from({ length: 100 }, (_, r) => {
    const id = k8sObjectId(cluster, ns, 'ReplicaSet', `dep-${r % 50}-${hex(r, 8)}`);
    g.node(id, 'k8s:replicaset', `dep-${r % 50}-${hex(r, 8)}`, []);
    g.edge(id, 'owned_by', deployments[r % 50]!);
    return id;
  });
  const pods = Array.from({ length: 1_000 }, (_, p) => {
    const name = `pod-${v}-${p}`;
    const id = k8sObjectId(cluster, ns, 'Pod', name);
    g.node(id, 'k8s:pod', name, [`10.${64 + v}.${p >> 8}.${p & 255}`, `uid-${hex(v * 10_000 + p, 12)}`]);
    g.edge(id, 'runs_on', k8sNodes[p % 100]!);
    g.edge(id, 'owned_by', replicaSets[p % 100]!);
    return id;
  });
  for (let k = 0; k < 50; k++) {
    const id = k8sObjectId(cluster, ns, 'Service', `k8s-svc-${k}`);
    g.node(id, 'k8s:service', `k8s-svc-${k}`, [`172.20.${v}.${k}`]);
    for (let p = k; p < 1_000; p += 50) g.edge(id, 'routes_to', pods[p]!);
  }
  // Services as traces see them: 250 on 4 pods each, 500 on instances 100.. (every 5th on two).
  const services: Service[] = [];
  for (let j = 0; j < 750; j++) {
    const name = `svc-${v}-${j}`;
    const id = serviceId(ns, name);
    g.node(id, 'service', name, [], 'traces');
    const on: Instance[] = [];
    if (j < 250) for (let p = 4 * j; p < 4 * j + 4; p++) g.edge(id, 'runs_on', pods[p]!, 'traces');
    else {
      on.push(instances[100 + ((j - 250) % 800)]!);
      if (j % 5 === 0) on.push(instances[100 + ((j - 250 + 400) % 800)]!);
      for (const i of on) {
        g.edge(id, 'runs_on', i.id, 'traces');
        i.services.push(id);
      }
    }
    services.push({ id, name, ns, instances: on });
  }
  const lbs: Cell['lbs'] = [];
  for (let l = 0; l < 25; l++) {
    const name = `lb-${v}-${l}`;
    const id = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:loadbalancer/app/${name}/${hex(v * 100 + l, 16)}`;
    g.node(id, 'elasticloadbalancing:loadbalancer', name, [`${name}-${hex(l, 10)}.${REGION}.elb.amazonaws.com`]);
    g.edge(id, 'member_of', subnets[l % 20]!);
    g.edge(id, 'member_of', subnets[(l + 1) % 20]!);
    g.edge(id, 'member_of', sgs[l % 100]!);
    lbs.push({ id, services: [] });
  }
  const tgs = Array.from({ length: 50 }, (_, t) => {
    const name = `tg-${v}-${t}`;
    const id = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/${name}/${hex(v * 100 + t, 16)}`;
    g.node(id, 'elasticloadbalancing:targetgroup', name, []);
    for (let k = 0; k < 10; k++) {
      const target = instances[100 + ((t * 16 + k) % 800)]!;
      g.edge(id, 'routes_to', target.id);
      lbs[t % 25]!.services.push(...target.services);
    }
    g.edge(id, 'member_of', lbs[t % 25]!.id);
    return id;
  });
  const sgServices = new Map<string, Set<string>>();
  for (const i of instances)
    for (const sg of i.sgs) {
      let set = sgServices.get(sg);
      if (!set) sgServices.set(sg, (set = new Set()));
      for (const s of i.services) set.add(s);
    }
  const podNode = pods.map((_, p) => k8sNodes[p % 100]!);
  return { vpc, subnets, sgs, instances, volumes, enis, rds, lbs, tgs, lambdas, k8sNodes, pods, podNode, services, sgServices };
}

export function change(id: string, ts: number, eventName: string, resource: string, extra: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    event_id: id,
    ts_ms: ts,
    source: 'cloudtrail',
    event_source: resource.startsWith('arn:aws:rds')
      ? 'rds.amazonaws.com'
      : resource.includes('elasticloadbalancing')
        ? 'elasticloadbalancing.amazonaws.com'
        : 'ec2.amazonaws.com',
    event_name: eventName,
    actor: `arn:aws:iam::${ACCOUNT}:user/ops-${id.length % 7}`,
    actor_type: 'IAMUser',
    account: ACCOUNT,
    region: REGION,
    resource_ids: [resource],
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '10.200.0.1',
    user_agent: 'aws-cli/2.15',
    kind: 'cloudtrail',
    summary: '',
    details: '{}',
    ...extra,
  };
}

export function fact(id: string, ts: number, resource: string, rule: string, state: 'firing' | 'resolved', status: HealthFact['status']): HealthFact {
  return {
    id,
    ts_ms: ts,
    resource_id: resource,
    status,
    state,
    rule,
    reason: state === 'firing' ? `${rule} above threshold` : `${rule} back to normal`,
    metric: rule,
    value: state === 'firing' ? 0.31 : 0.01,
    threshold: 0.05,
    labels: {},
  };
}

/** The graph of `resources` resources and the stream. */
export function makeLoad(o: LoadOptions): Load {
  const random = seeded(o.seed ?? 12);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const g = new Graph();
  const cells = Array.from({ length: Math.max(1, Math.round(o.resources / RESOURCES_PER_CELL)) }, (_, v) => cell(g, v));
  const topology: Message[] = g.records.map((r) => ({ topic: TOPOLOGY_TOPIC, key: topologyKey(r), value: topologyCodec.encode(r), ts: 0 }));

  const callPairs: { client: Service; server: string; ns: string; address: string }[] = [];
  for (const c of cells)
    c.services.forEach((s, j) => {
      for (const k of new Set([(j * 7 + 1) % 750, (j * 13 + 5) % 750, (j * 31 + 11) % 750]))
        if (k !== j) callPairs.push({ client: s, server: c.services[k]!.name, ns: s.ns, address: '' });
      if (j % 5 === 0) {
        const db = c.rds[j % 50]!;
        db.callers.push(s.id);
        callPairs.push({ client: s, server: db.name.replace('db-', 'orders-'), ns: '', address: db.endpoint });
      }
    });
  let edgeN = 0;
  const edgeMessage = (p: (typeof callPairs)[number], ts: number): Message => {
    const e: EdgeFact = {
      id: `e${edgeN++}`,
      ts_ms: ts,
      trace_id: hex(edgeN, 32),
      ...edgeSides(p.client.name, p.client.ns, p.server, p.ns),
      connection_type: p.address ? 'database' : '',
      failed: false,
      latency_ms: 12,
      client_latency_ms: 13,
      server_address: p.address,
    };
    return { topic: EDGES_TOPIC, key: edgeKey(e), value: edgeCodec.encode(e), ts };
  };
  const calls = callPairs.map((p) => edgeMessage(p, o.t0 - 5 * MIN));

  /** Generated, not yet given: a minute's records are final once the next minute is generated (nothing later is earlier). */
  let future: Message[] = [];
  const planted: Planted[] = [];
  const counts = { changes: 0, health: 0, firing: 0, edges: 0, topology: 0 };
  /** resource \0 rule → when it resolves: firing again before that is no new signal. */
  const open = new Map<string, number>();
  const addChange = (e: ChangeEvent) => {
    future.push({ topic: CHANGES_TOPIC, key: e.resource_ids[0]!, value: changeCodec.encode(e), ts: e.ts_ms });
  };
  let factN = 0;
  /** A firing fact (unless that resource and rule is firing already) and its resolution 1–8 minutes later. */
  const addSignal = (ts: number, resource: string, rule: string, status: HealthFact['status']): string | undefined => {
    const key = `${resource}\u0000${rule}`;
    if ((open.get(key) ?? -Infinity) >= ts - 1_000) return undefined;
    const id = `h-${factN++}`;
    future.push({ topic: HEALTH_TOPIC, key: resource, value: healthCodec.encode(fact(id, ts, resource, rule, 'firing', status)), ts });
    const end = ts + MIN + Math.floor(random() * 7 * MIN);
    open.set(key, end);
    future.push({ topic: HEALTH_TOPIC, key: resource, value: healthCodec.encode(fact(`${id}-resolved`, end, resource, rule, 'resolved', 'healthy')), ts: end });
    return id;
  };

  let changeN = 0;
  let m = 0;
  const nextMinute = (): Message[] | undefined => {
    if (m >= o.minutes) return undefined;
    generate(m++);
    const until = o.t0 + m * MIN;
    const now = future.filter((r) => r.ts < until).sort((a, b) => a.ts - b.ts);
    future = future.filter((r) => r.ts >= until);
    for (const r of now) {
      if (r.topic === CHANGES_TOPIC) counts.changes++;
      else if (r.topic === EDGES_TOPIC) counts.edges++;
      else if (r.topic === TOPOLOGY_TOPIC) counts.topology++;
      else {
        counts.health++;
        if (!r.value.includes('-resolved')) counts.firing++;
      }
    }
    return now;
  };
  const generate = (m: number) => {
    const start = o.t0 + m * MIN;
    const at = () => start + Math.floor(random() * MIN);
    // Changes: what a busy account writes; a tenth read-only or failed (no cause).
    for (let n = 0; n < o.changesPerMin - o.plantedPerMin; n++) {
      const c = pick(cells);
      const id = `ct-${changeN++}`;
      const ts = at();
      const r = random();
      if (r < 0.05) addChange(change(id, ts, 'DescribeInstances', pick(c.instances).id, { read_only: true }));
      else if (r < 0.08) addChange(change(id, ts, 'TerminateInstances', pick(c.instances).id, { error_code: 'UnauthorizedOperation' }));
      else if (r < 0.3) addChange(change(id, ts, pick(['CreateTags', 'ModifyInstanceAttribute', 'RebootInstances', 'MonitorInstances']), pick(c.instances).id));
      else if (r < 0.42) addChange(change(id, ts, pick(['CreateTags', 'ModifyVolume', 'DetachVolume']), pick(c.volumes)));
      else if (r < 0.55) addChange(change(id, ts, pick(['ModifyNetworkInterfaceAttribute', 'AssignPrivateIpAddresses', 'CreateTags']), pick(c.enis)));
      else if (r < 0.65)
        addChange(change(id, ts, pick(['AuthorizeSecurityGroupIngress', 'CreateTags', 'UpdateSecurityGroupRuleDescriptionsIngress']), pick(c.sgs)));
      else if (r < 0.8) {
        const s = pick(c.services);
        addChange(change(id, ts, '', s.id, { kind: 'deploy', source: 'deploys', event_source: '', actor: '', summary: `${s.name} 1.${m}.0 → 1.${m}.1` }));
      } else if (r < 0.85) addChange(change(id, ts, pick(['ModifyDBInstance', 'AddTagsToResource', 'CreateDBSnapshot']), pick(c.rds).id));
      else if (r < 0.9) addChange(change(id, ts, pick(['ModifyListener', 'AddTags', 'RegisterTargets']), pick(c.lbs).id));
      else if (r < 0.94) addChange(change(id, ts, pick(['UpdateFunctionCode', 'TagResource']), pick(c.lambdas)));
      else if (r < 0.96) addChange(change(id, ts, pick(['ModifySubnetAttribute', 'CreateTags']), pick(c.subnets)));
      else addChange(change(id, ts, 'CreateTags', pick(c.k8sNodes), { event_source: 'eks.amazonaws.com' }));
    }
    // Planted incidents: a breaking change, then 2–6 signals on services that depend on it.
    let plantedSignals = 0;
    for (let n = 0; n < o.plantedPerMin; n++) {
      const c = pick(cells);
      const id = `ct-${changeN++}`;
      const ts = at();
      const kind = random();
      let victims: string[];
      if (kind < 0.5) {
        const sg = pick(c.sgs);
        addChange(change(id, ts, 'RevokeSecurityGroupIngress', sg));
        victims = [...(c.sgServices.get(sg) ?? [])];
      } else if (kind < 0.75) {
        const db = pick(c.rds);
        addChange(change(id, ts, 'ModifyDBInstance', db.id));
        victims = db.callers;
      } else {
        const i = pick(c.instances.slice(100));
        addChange(change(id, ts, 'StopInstances', i.id));
        victims = i.services;
      }
      const signalIds: string[] = [];
      for (let k = 0, want = 2 + Math.floor(random() * 5); k < victims.length * 3 && signalIds.length < want; k++) {
        const s = addSignal(ts + 30_000 + Math.floor(random() * 5 * MIN), pick(victims), 'http_error_ratio', 'critical');
        if (s) signalIds.push(s);
      }
      plantedSignals += signalIds.length;
      if (signalIds.length) planted.push({ causeId: id, signalIds });
    }
    // Signals: half the health records fire, half resolve (on the resource names rules and scrapes give).
    for (let n = 0, want = Math.round(o.signalsPerMin / 2) - plantedSignals; n < want; n++) {
      const c = pick(cells);
      const ts = at();
      const r = random();
      if (r < 0.45) {
        const s = pick(c.services);
        addSignal(ts, s.id, pick(['http_error_ratio', 'http_latency_p99', 'edge_error_ratio']), random() < 0.5 ? 'critical' : 'warning');
      } else if (r < 0.6) {
        const i = pick(c.instances);
        addSignal(ts, `target:node/${i.ip}:9100`, pick(['target_down', 'node_cpu_high']), 'warning');
      } else if (r < 0.75) {
        const s = pick(c.services.slice(250));
        addSignal(ts, `target:${s.name}/${s.instances[0]!.ip}:8080`, pick(['http_error_ratio', 'http_latency_p99']), 'critical');
      } else if (r < 0.87) addSignal(ts, pick(c.pods), pick(['pod_restarts', 'pod_oom']), 'warning');
      else if (r < 0.94) addSignal(ts, pick(c.rds).id, pick(['db_connections', 'db_cpu_high']), 'warning');
      else addSignal(ts, pick(c.lbs).id, pick(['lb_5xx', 'lb_latency']), 'critical');
    }
    // Call edges seen again.
    for (let n = 0; n < o.edgesPerMin; n++) future.push(edgeMessage(pick(callPairs), at()));
    // Topology churn: pods moved to another node (one edge gone, one new), instances launched and terminated.
    for (let n = 0; n < o.churnPerMin;) {
      const c = pick(cells);
      const ts = at();
      const push = (r: TopologyRecord) => {
        future.push({ topic: TOPOLOGY_TOPIC, key: topologyKey(r), value: topologyCodec.encode(r), ts });
        n++;
      };
      if (random() < 0.9) {
        const p = Math.floor(random() * c.pods.length);
        const pod = c.pods[p]!;
        const from = c.podNode[p]!;
        const to = c.k8sNodes[Math.floor(random() * 100)]!;
        if (from === to) continue;
        c.podNode[p] = to;
        push({ ...edgeRecord(pod, 'runs_on', from, 'scanner', true, ts) });
        push({ ...edgeRecord(pod, 'runs_on', to, 'scanner', false, ts) });
      } else {
        const short = `i-${hex(1e12 + changeN++)}`;
        const id = ec2('instance', short);
        const subnet = pick(c.subnets);
        const sg = pick(c.sgs);
        const node: TopologyRecord = {
          kind: 'node',
          id,
          dst: '',
          type: 'ec2:instance',
          provider: 'aws',
          account: ACCOUNT,
          region: REGION,
          name: `batch-${n}`,
          attributes: { aliases: short, scope: 'bench' },
          seen_ms: ts,
          source: 'scanner',
          gone: false,
        };
        push(node);
        push(edgeRecord(id, 'member_of', subnet, 'scanner', false, ts));
        push(edgeRecord(id, 'member_of', sg, 'scanner', false, ts));
      }
    }
  };
  const probeTargets = cells.flatMap((c) => c.sgs.flatMap((sg) => [...(c.sgServices.get(sg) ?? [])].slice(0, 1).map((service) => ({ sg, service }))));
  return { topology, nodes: g.nodes, calls, nextMinute, counts, planted, probeTargets };
}

/** The decoder of each input topic, as the engine decodes it. */
export const decoders: Record<string, (b: Buffer) => unknown> = {
  [TOPOLOGY_TOPIC]: (b) => topologyCodec.decode(b),
  [EDGES_TOPIC]: (b) => edgeCodec.decode(b),
  [CHANGES_TOPIC]: (b) => changeCodec.decode(b),
  [HEALTH_TOPIC]: (b) => healthCodec.decode(b),
};

export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * The load as a run feeds it: the call pairs and the warm-up minutes, then the measured minutes,
 * each cut in chunks (the Kafka feeder cuts the same chunks).
 */
export function feedPlan(load: Load, t0: number, warmMinutes: number, chunk: number): { warm: Message[][]; measured: Message[][] } {
  const all = wholeStream(load);
  let cut = all.findIndex((m) => m.ts >= t0 + warmMinutes * MIN);
  if (cut < 0) cut = all.length;
  return { warm: chunks([...load.calls, ...all.slice(0, cut)], chunk), measured: chunks(all.slice(cut), chunk) };
}
