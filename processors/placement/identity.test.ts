import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placementOf } from './placement.js';

const ids = (p: ReturnType<typeof placementOf>) => ({
  service: p!.service.id,
  targets: p!.targets.map((t) => [t.id, t.type]),
  edges: p!.edges.map((e) => `${e.id} -${e.type}-> ${e.dst}`),
});

test('an EC2 host: the instance ARN is synthesised from host.id, region and account', () => {
  const p = placementOf(
    {
      'service.name': 'checkout',
      'service.namespace': 'shop',
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'cloud.account.id': '123456789012',
      'host.id': 'i-0123456789abcdef0',
      'host.name': 'ip-10-0-1-23',
    },
    1,
  );
  assert.deepEqual(ids(p), {
    service: 'service:shop/checkout',
    targets: [['arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0', 'ec2:instance']],
    edges: ['service:shop/checkout -runs_on-> arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0'],
  });
  assert.equal(p!.targets[0]!.account, '123456789012');
  assert.equal(p!.targets[0]!.name, 'ip-10-0-1-23');
});

test('Kubernetes: pod and node nodes, service runs on both, the pod runs on the node', () => {
  const p = placementOf(
    {
      'service.name': 'api',
      'k8s.cluster.name': 'prod',
      'k8s.namespace.name': 'shop',
      'k8s.pod.name': 'api-7d9f8-x2x',
      'k8s.pod.uid': 'u-1',
      'k8s.node.name': 'ip-10-0-1-23.ec2.internal',
    },
    1,
  );
  assert.deepEqual(ids(p), {
    service: 'service:/api',
    targets: [
      ['k8s:prod/shop/pod/api-7d9f8-x2x', 'k8s:pod'],
      ['k8s:prod//node/ip-10-0-1-23.ec2.internal', 'k8s:node'],
    ],
    edges: [
      'service:/api -runs_on-> k8s:prod/shop/pod/api-7d9f8-x2x',
      'service:/api -runs_on-> k8s:prod//node/ip-10-0-1-23.ec2.internal',
      'k8s:prod/shop/pod/api-7d9f8-x2x -runs_on-> k8s:prod//node/ip-10-0-1-23.ec2.internal',
    ],
  });
  assert.deepEqual(p!.targets[0]!.attributes, { uid: 'u-1' });
});

test('cloud.resource_id is taken as it is, typed from its ARN; a bare host stays a host; no service.name, no placement', () => {
  const p = placementOf({ 'service.name': 'fn', 'cloud.resource_id': 'arn:aws:lambda:us-east-1:111122223333:function:resize' }, 1);
  assert.deepEqual(ids(p).targets, [['arn:aws:lambda:us-east-1:111122223333:function:resize', 'lambda:function']]);
  assert.equal(p!.targets[0]!.region, 'us-east-1');
  assert.deepEqual(ids(placementOf({ 'service.name': 'x', 'host.id': 'b7e1f0' }, 1)).targets, [['host:b7e1f0', 'host']]);
  assert.equal(placementOf({ 'host.id': 'i-0123456789abcdef0' }, 1), undefined);
  assert.deepEqual(placementOf({ 'service.name': 'lonely' }, 1)!.targets, []);
});

test('container.id: the container is named by its first 12 hex digits (as Falco and Docker print it) and runs in its pod', () => {
  const full = 'containerd://3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
  const p = placementOf({ 'service.name': 'api', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'api-1', 'container.id': full, 'container.name': 'api' }, 1);
  assert.deepEqual(ids(p).targets, [
    ['k8s:/shop/pod/api-1', 'k8s:pod'],
    ['container:3f4e1c2b9a8d', 'container'],
  ]);
  assert.ok(ids(p).edges.includes('container:3f4e1c2b9a8d -runs_on-> k8s:/shop/pod/api-1'));
  assert.equal(p!.targets[1]!.attributes['container.id'], full);
  const onHost = placementOf({ 'service.name': 'x', 'host.id': 'b7e1f0', 'container.id': '3F4E1C2B9A8D7E6F' }, 1);
  assert.ok(ids(onHost).edges.includes('container:3f4e1c2b9a8d -runs_on-> host:b7e1f0'));
  assert.deepEqual(ids(placementOf({ 'service.name': 'x', 'container.id': 'not-hex' }, 1)).targets, []);
});
