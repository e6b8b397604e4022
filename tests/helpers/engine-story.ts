/*
 * A story for the engine's restart tests (tests/e2e/engine-kill.test.ts on the real Kafka broker,
 * processors/engine/processor.test.ts in process): the engine's own input records — topology,
 * call edges, changes, drift, health facts — encoded with the codecs of processors/model/, keyed
 * as their producers key them, in stages that are fed one after the other. Every time is event
 * time, minutes after a base time T given by the test, so two runs of the same story get the same
 * bytes.
 *
 * The estate: web (on i-web) calls api (on i-api), both in sg-web; ledger (on i-ledger, sg-ledger)
 * calls its database, a virtual server service:/ledgerdb that only the calls' server.address
 * names as the RDS instance shop-ledger-prod (the first call edge has no address, the second one,
 * 90 s later, has it); checkout runs on i-chk. Five incidents:
 *
 * - I1, long: c1 RevokeSecurityGroupIngress on sg-web at 0; signals on web and api at 2, 12, 26,
 *   40, 54 and (stage 3) 66, never resolved: one open incident throughout, whose first signal
 *   stays in the engine's window while the others come and go.
 * - I2: c2 ModifyDBInstance on the database at 5, ledger errors 8–10 (resolved). Its signal is on
 *   the same health partition as I1's first one, after it; both are long closed (and c2 forgotten)
 *   when the engine is killed.
 * - I3: a tag on i-chk at 12, checkout down 20–24; the deploy of checkout at 17 arrives after the
 *   signal (late evidence) and revises the scores.
 * - I4: a tag on the database at 55, ledger down at 57 (open when the engine is killed); the
 *   security-group change on sg-ledger at 56 arrives after the restart (late), with its drift.
 * - I5 (after the restart): RebootDBInstance at 62, ledger slow at 64: found only through the
 *   database's address, which the engine learned from a call edge before the kill. It joins I4.
 *
 * Stage 3 also brings a rescan (a new instance: the graph moves, every open signal is looked at
 * again).
 */
import { awsArn } from '../../processors/identity/aws.js';
import { changeMessage, otherChange, changeId, type ChangeEvent } from '../../processors/model/changes.js';
import { driftCodec, type DriftEvent } from '../../processors/model/drift.js';
import { edgeCodec, edgeKey, edgeSides, type EdgeFact } from '../../processors/model/edges.js';
import { healthCodec, type HealthFact } from '../../processors/model/health.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../../processors/model/topology.js';
import type { OutMessage } from '../../processors/runtime/bus/types.js';

export const MIN = 60_000;
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

/** The engine's inputs, by the names of its `inputs` config. */
export type EngineInput = 'topology' | 'edges' | 'changes' | 'drift' | 'health';
export type StoryStage = { name: string; messages: [EngineInput, OutMessage][] };

const ec2 = (id: string) => awsArn(id, 'ec2', REGION, ACCOUNT);
export const IDS = {
  vpc: ec2('vpc-0a1b2c3d4e5f60001'),
  subnet: ec2('subnet-0a1b2c3d4e5f60001'),
  sgWeb: ec2('sg-0a1b2c3d4e5f6aa01'),
  sgLedger: ec2('sg-0a1b2c3d4e5f6aa02'),
  sgChk: ec2('sg-0a1b2c3d4e5f6aa03'),
  sgDb: ec2('sg-0a1b2c3d4e5f6aa04'),
  iWeb: ec2('i-0a1b2c3d4e5f60001'),
  iApi: ec2('i-0a1b2c3d4e5f60002'),
  iLedger: ec2('i-0a1b2c3d4e5f60003'),
  iChk: ec2('i-0a1b2c3d4e5f60004'),
  iNew: ec2('i-0a1b2c3d4e5f60005'),
  db: awsArn('shop-ledger-prod', 'rds:db', REGION, ACCOUNT),
  web: 'service:shop/web',
  api: 'service:shop/api',
  ledger: 'service:shop/ledger',
  checkout: 'service:shop/checkout',
  ledgerDb: 'service:/ledgerdb',
};
export const DB_ADDRESS = 'shop-ledger-prod.c9akciq32xyz.eu-west-1.rds.amazonaws.com';

/** The (cause, signal) pairs the story's truth says are claims (score ≥ 0.5), by the story's short names. */
export const EXPECTED_CLAIMS = ['c1 → s1a', 'c1 → s1b', 'c2 → s2', 'c3 → s3', 'c4b → s4', 'c4b → s5', 'c5 → s5'];

/** The story's changes, drift and facts: their ids by short name (c1, s1a, …) — the same for any T. */
export const STORY_IDS: Record<string, string> = {};
const changeIdOf = (name: string) => (STORY_IDS[name] = changeId('engine-story', name));
const factIdOf = (name: string) => (STORY_IDS[name] = changeId('engine-story-fact', name));
const driftIdOf = (name: string) => (STORY_IDS[name] = changeId('engine-story-drift', name));
for (const n of ['c1', 'c2', 'c3a', 'c3', 'c4', 'c4b', 'c5']) changeIdOf(n);
for (const n of ['s1a', 's1b', 's1c', 's1d', 's1e', 's1f', 's2', 's2r', 's3', 's3r', 's4', 's5']) factIdOf(n);
driftIdOf('d1');

/** A story id's short name (the id itself when it is none of the story's). */
export function storyName(id: string): string {
  return Object.entries(STORY_IDS).find(([, v]) => v === id)?.[0] ?? id;
}

export function engineStory(T: number): StoryStage[] {
  const at = (m: number) => T + Math.round(m * MIN);
  const scan = T - 60 * MIN;

  const topo = (r: Partial<TopologyRecord> & Pick<TopologyRecord, 'kind' | 'id' | 'type'>): [EngineInput, OutMessage] => {
    const rec: TopologyRecord = {
      dst: '',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: '',
      attributes: {},
      seen_ms: scan,
      source: 'scanner',
      gone: false,
      ...r,
    };
    return ['topology', { key: topologyKey(rec), value: topologyCodec.encode(rec), timestamp: rec.seen_ms }];
  };
  const node = (id: string, type: string, name: string, attributes: Record<string, string> = {}, extra: Partial<TopologyRecord> = {}) =>
    topo({ kind: 'node', id, type, name, attributes, ...extra });
  const link = (src: string, type: string, dst: string, source = 'scanner', seen = scan) =>
    topo({ kind: 'edge', id: src, dst, type, source, seen_ms: seen, provider: source === 'scanner' ? 'aws' : '', account: '', region: '' });
  const instance = (id: string, name: string, ip: string, sg: string, seen = scan) => [
    node(
      id,
      'ec2:instance',
      name,
      { aliases: `${id.split('/')[1]},${ip},ip-${ip.replaceAll('.', '-')}.${REGION}.compute.internal`, private_ip: ip },
      { seen_ms: seen },
    ),
    link(id, 'member_of', IDS.subnet, 'scanner', seen),
    link(id, 'member_of', sg, 'scanner', seen),
  ];
  const service = (id: string, name: string, host: string) => [
    node(id, 'service', name, {}, { source: 'traces', provider: '', account: '', region: '', seen_ms: at(-15) }),
    link(id, 'runs_on', host, 'traces', at(-15)),
  ];

  const call = (client: string, server: string, m: number, address = ''): [EngineInput, OutMessage] => {
    const [cns, cname] = client.slice('service:'.length).split('/') as [string, string];
    const [sns, sname] = server.slice('service:'.length).split('/') as [string, string];
    const e: EdgeFact = {
      id: changeId('edge', client, server, m),
      ts_ms: at(m),
      trace_id: changeId('trace', client, server, m),
      ...edgeSides(cname, cns, sname, sns),
      connection_type: address ? 'database' : '',
      failed: false,
      latency_ms: 12,
      client_latency_ms: 14,
      server_address: address,
    };
    return ['edges', { key: edgeKey(e), value: edgeCodec.encode(e), timestamp: e.ts_ms }];
  };

  const change = (name: string, m: number, eventSource: string, eventName: string, resources: string[], actor = 'alice'): [EngineInput, OutMessage] => {
    const e: ChangeEvent = {
      event_id: changeIdOf(name),
      ts_ms: at(m),
      source: 'cloudtrail',
      event_source: eventSource,
      event_name: eventName,
      actor: `arn:aws:iam::${ACCOUNT}:user/${actor}`,
      actor_type: 'IAMUser',
      account: ACCOUNT,
      region: REGION,
      resource_ids: resources,
      read_only: false,
      error_code: '',
      error_message: '',
      source_ip: '203.0.113.7',
      user_agent: 'aws-cli/2.15.0',
      kind: 'cloudtrail',
      summary: '',
      details: '{}',
    };
    return ['changes', changeMessage(e)];
  };
  const deploy = (name: string, m: number, svc: string, summary: string): [EngineInput, OutMessage] => {
    const e = otherChange({
      event_id: changeIdOf(name),
      ts_ms: at(m),
      source: 'spans',
      resource_ids: [svc],
      kind: 'deploy',
      summary,
      details: JSON.stringify({ from: '2.3.0', to: '2.4.0' }),
    });
    return ['changes', changeMessage(e)];
  };

  const fact = (
    name: string,
    m: number,
    resource: string,
    rule: string,
    status: HealthFact['status'],
    state: HealthFact['state'] = 'firing',
  ): [EngineInput, OutMessage] => {
    const f: HealthFact = {
      id: factIdOf(name),
      ts_ms: at(m),
      resource_id: resource,
      status,
      state,
      rule,
      reason: state === 'firing' ? `${rule} above its threshold` : `${rule} back to normal`,
      metric: rule,
      value: state === 'firing' ? 0.42 : 0.01,
      threshold: 0.05,
      labels: { rule },
    };
    return ['health', { key: f.resource_id, value: healthCodec.encode(f), timestamp: f.ts_ms }];
  };

  const drift = (name: string, m: number, resource: string, cause: string, causeMinute: number): [EngineInput, OutMessage] => {
    const d: DriftEvent = {
      id: driftIdOf(name),
      ts_ms: at(m),
      resource_id: resource,
      resource_type: 'aws_security_group',
      address: 'aws_security_group.ledger',
      drift: 'modified',
      attribute: 'ingress',
      expected: '[{"from_port":5432,"cidr":"10.0.0.0/16"}]',
      actual: '[{"from_port":5432,"cidr":"10.0.0.0/16"},{"from_port":22,"cidr":"0.0.0.0/0"}]',
      lineage: 'lineage-shop',
      serial: 7,
      scan_id: 'scan-2',
      cause_event_id: changeIdOf(cause),
      cause_ts_ms: at(causeMinute),
      cause_actor: `arn:aws:iam::${ACCOUNT}:user/bob`,
      cause_event_name: 'AuthorizeSecurityGroupIngress',
    };
    return ['drift', { key: d.resource_id, value: driftCodec.encode(d), timestamp: d.ts_ms }];
  };

  const estate = [
    node(IDS.vpc, 'ec2:vpc', 'shop'),
    node(IDS.subnet, 'ec2:subnet', 'shop-private-a'),
    link(IDS.subnet, 'member_of', IDS.vpc),
    ...(
      [
        [IDS.sgWeb, 'web'],
        [IDS.sgLedger, 'ledger'],
        [IDS.sgChk, 'checkout'],
        [IDS.sgDb, 'ledger-db'],
      ] as const
    ).flatMap(([id, name]) => [node(id, 'ec2:security-group', name), link(id, 'member_of', IDS.vpc)]),
    ...instance(IDS.iWeb, 'web-1', '10.0.1.10', IDS.sgWeb),
    ...instance(IDS.iApi, 'api-1', '10.0.1.11', IDS.sgWeb),
    ...instance(IDS.iLedger, 'ledger-1', '10.0.1.12', IDS.sgLedger),
    ...instance(IDS.iChk, 'checkout-1', '10.0.1.13', IDS.sgChk),
    node(IDS.db, 'rds:db', 'shop-ledger-prod', { aliases: DB_ADDRESS, engine: 'postgres' }),
    link(IDS.db, 'member_of', IDS.sgDb),
    ...service(IDS.web, 'web', IDS.iWeb),
    ...service(IDS.api, 'api', IDS.iApi),
    ...service(IDS.ledger, 'ledger', IDS.iLedger),
    ...service(IDS.checkout, 'checkout', IDS.iChk),
  ];

  return [
    {
      name: 'estate, calls, the first changes and signals',
      messages: [
        ...estate,
        call(IDS.web, IDS.api, 1),
        call(IDS.ledger, IDS.ledgerDb, 1),
        call(IDS.ledger, IDS.ledgerDb, 1.5, DB_ADDRESS),
        change('c1', 0, 'ec2.amazonaws.com', 'RevokeSecurityGroupIngress', [IDS.sgWeb]),
        change('c2', 5, 'rds.amazonaws.com', 'ModifyDBInstance', [IDS.db], 'carol'),
        change('c3a', 12, 'ec2.amazonaws.com', 'CreateTags', [IDS.iChk], 'dave'),
        fact('s1a', 2, IDS.web, 'target_down', 'critical'),
        fact('s2', 8, IDS.ledger, 'http_error_ratio', 'critical'),
        fact('s2r', 10, IDS.ledger, 'http_error_ratio', 'healthy', 'resolved'),
        fact('s1b', 12, IDS.api, 'http_error_ratio', 'critical'),
        fact('s3', 20, IDS.checkout, 'target_down', 'critical'),
      ],
    },
    {
      name: 'the late deploy of checkout, checkout back, web slow',
      messages: [
        deploy('c3', 17, IDS.checkout, 'checkout 2.3.0 → 2.4.0'),
        fact('s3r', 24, IDS.checkout, 'target_down', 'healthy', 'resolved'),
        fact('s1c', 26, IDS.web, 'http_latency_p99', 'warning'),
      ],
    },
    {
      name: 'I1 goes on; a tag on the database; ledger down (open when the engine is killed)',
      messages: [
        fact('s1d', 40, IDS.api, 'http_latency_p99', 'warning'),
        fact('s1e', 54, IDS.web, 'error_budget_burn', 'critical'),
        change('c4', 55, 'rds.amazonaws.com', 'AddTagsToResource', [IDS.db], 'erin'),
        fact('s4', 57, IDS.ledger, 'target_down', 'critical'),
        call(IDS.web, IDS.api, 60),
      ],
    },
    {
      name: "while the engine is down: sg-ledger's late change and its drift, a rescan, the reboot, ledger slow, api down",
      messages: [
        change('c4b', 56, 'ec2.amazonaws.com', 'AuthorizeSecurityGroupIngress', [IDS.sgLedger], 'bob'),
        ...instance(IDS.iNew, 'batch-1', '10.0.1.14', IDS.sgChk, at(58)),
        drift('d1', 58, IDS.sgLedger, 'c4b', 56),
        change('c5', 62, 'rds.amazonaws.com', 'RebootDBInstance', [IDS.db], 'carol'),
        fact('s5', 64, IDS.ledger, 'http_latency_p99', 'critical'),
        fact('s1f', 66, IDS.api, 'target_down', 'critical'),
        call(IDS.web, IDS.api, 66),
      ],
    },
  ];
}
