/*
 * Which resources a CloudTrail record is about: its resources[] ARNs, and per event source and
 * event name the places in requestParameters / responseElements that hold resource ids, turned into
 * ARNs with the record's region and recipientAccountId.
 */

import { awsArn, type ArnKind } from '../identity/aws.js';

type Doc = Record<string, unknown>;

type Kind = ArnKind;

/** [path, kind]: `request.` or `response.` then keys; `[]` walks every element of a list. */
type Lookup = [string, Kind];

const SG = (p: string): Lookup[] => [[`request.${p}`, 'ec2']];
const ec2: Record<string, Lookup[]> = {
  AuthorizeSecurityGroupIngress: SG('groupId'),
  AuthorizeSecurityGroupEgress: SG('groupId'),
  RevokeSecurityGroupIngress: SG('groupId'),
  RevokeSecurityGroupEgress: SG('groupId'),
  ModifySecurityGroupRules: SG('ModifySecurityGroupRulesRequest.GroupId'),
  UpdateSecurityGroupRuleDescriptionsIngress: SG('groupId'),
  UpdateSecurityGroupRuleDescriptionsEgress: SG('groupId'),
  DeleteSecurityGroup: SG('groupId'),
  CreateSecurityGroup: [['response.groupId', 'ec2']],
  RunInstances: [['response.instancesSet.items[].instanceId', 'ec2']],
  TerminateInstances: [['request.instancesSet.items[].instanceId', 'ec2']],
  StopInstances: [['request.instancesSet.items[].instanceId', 'ec2']],
  StartInstances: [['request.instancesSet.items[].instanceId', 'ec2']],
  RebootInstances: [['request.instancesSet.items[].instanceId', 'ec2']],
  ModifyInstanceAttribute: [
    ['request.instanceId', 'ec2'],
    ['request.groupSet.items[].groupId', 'ec2'],
  ],
  ModifyInstanceMetadataOptions: [['request.instanceId', 'ec2']],
  CreateVolume: [['response.volumeId', 'ec2']],
  DeleteVolume: [['request.volumeId', 'ec2']],
  ModifyVolume: [
    ['request.ModifyVolumeRequest.VolumeId', 'ec2'],
    ['request.volumeId', 'ec2'],
  ],
  AttachVolume: [
    ['request.volumeId', 'ec2'],
    ['request.instanceId', 'ec2'],
  ],
  DetachVolume: [
    ['request.volumeId', 'ec2'],
    ['request.instanceId', 'ec2'],
  ],
  CreateNetworkInterface: [['response.networkInterface.networkInterfaceId', 'ec2']],
  DeleteNetworkInterface: [['request.networkInterfaceId', 'ec2']],
  ModifyNetworkInterfaceAttribute: [
    ['request.networkInterfaceId', 'ec2'],
    ['request.groupSet.items[].groupId', 'ec2'],
  ],
  AttachNetworkInterface: [
    ['request.networkInterfaceId', 'ec2'],
    ['request.instanceId', 'ec2'],
  ],
  DetachNetworkInterface: [['request.attachmentId', 'ec2']],
  CreateTags: [['request.resourcesSet.items[].resourceId', 'ec2']],
  DeleteTags: [['request.resourcesSet.items[].resourceId', 'ec2']],
  CreateVpc: [['response.vpc.vpcId', 'ec2']],
  DeleteVpc: [['request.vpcId', 'ec2']],
  CreateSubnet: [['response.subnet.subnetId', 'ec2']],
  DeleteSubnet: [['request.subnetId', 'ec2']],
};

const db: Lookup[] = [
  ['response.dBInstanceArn', 'arn'],
  ['request.dBInstanceIdentifier', 'rds:db'],
];
const rds: Record<string, Lookup[]> = {
  CreateDBInstance: db,
  ModifyDBInstance: db,
  DeleteDBInstance: db,
  RebootDBInstance: db,
  StartDBInstance: db,
  StopDBInstance: db,
  CreateDBInstanceReadReplica: db,
};

const lb: Lookup[] = [['request.loadBalancerArn', 'arn']];
const tg: Lookup[] = [['request.targetGroupArn', 'arn']];
const elbv2: Record<string, Lookup[]> = {
  CreateLoadBalancer: [['response.loadBalancers[].loadBalancerArn', 'arn']],
  DeleteLoadBalancer: lb,
  ModifyLoadBalancerAttributes: lb,
  SetSecurityGroups: [...lb, ['request.securityGroups[]', 'ec2']],
  SetSubnets: lb,
  CreateListener: [...lb, ['response.listeners[].listenerArn', 'arn']],
  ModifyListener: [['request.listenerArn', 'arn']],
  DeleteListener: [['request.listenerArn', 'arn']],
  CreateTargetGroup: [['response.targetGroups[].targetGroupArn', 'arn']],
  DeleteTargetGroup: tg,
  ModifyTargetGroup: tg,
  ModifyTargetGroupAttributes: tg,
  RegisterTargets: [...tg, ['request.targets[].id', 'ec2']],
  DeregisterTargets: [...tg, ['request.targets[].id', 'ec2']],
};

const role: Lookup[] = [['request.roleName', 'iam:role']];
const policy: Lookup[] = [['request.policyArn', 'arn']];
const iam: Record<string, Lookup[]> = {
  CreateRole: [['response.role.arn', 'arn'], ...role],
  DeleteRole: role,
  UpdateRole: role,
  UpdateAssumeRolePolicy: role,
  AttachRolePolicy: [...role, ...policy],
  DetachRolePolicy: [...role, ...policy],
  PutRolePolicy: role,
  DeleteRolePolicy: role,
  TagRole: role,
  CreatePolicy: [['response.policy.arn', 'arn']],
  DeletePolicy: policy,
  CreatePolicyVersion: policy,
  SetDefaultPolicyVersion: policy,
  CreateUser: [['request.userName', 'iam:user']],
  DeleteUser: [['request.userName', 'iam:user']],
  AttachUserPolicy: [['request.userName', 'iam:user'], ...policy],
  CreateAccessKey: [['request.userName', 'iam:user']],
};

const fn: Lookup[] = [
  ['response.functionArn', 'arn'],
  ['request.functionName', 'lambda:function'],
];
const lambda: Record<string, Lookup[]> = {
  CreateFunction: fn,
  DeleteFunction: fn,
  UpdateFunctionCode: fn,
  UpdateFunctionConfiguration: fn,
  PublishVersion: fn,
  AddPermission: fn,
  RemovePermission: fn,
  PutFunctionConcurrency: fn,
  CreateAlias: fn,
  UpdateAlias: fn,
  TagResource: [['request.resource', 'arn']],
};

// EKS names its cluster `name`; ECS calls it `clusterName` (CreateCluster) or `cluster`.
const eks: Record<string, Lookup[]> = {
  CreateCluster: [
    ['response.cluster.arn', 'arn'],
    ['request.name', 'eks:cluster'],
  ],
  DeleteCluster: [['request.name', 'eks:cluster']],
  UpdateClusterConfig: [['request.name', 'eks:cluster']],
  UpdateClusterVersion: [['request.name', 'eks:cluster']],
  CreateNodegroup: [
    ['response.nodegroup.nodegroupArn', 'arn'],
    ['request.name', 'eks:cluster'],
  ],
  DeleteNodegroup: [['request.name', 'eks:cluster']],
  UpdateNodegroupConfig: [['request.name', 'eks:cluster']],
};
const ecs: Record<string, Lookup[]> = {
  CreateCluster: [
    ['response.cluster.clusterArn', 'arn'],
    ['request.clusterName', 'ecs:cluster'],
  ],
  DeleteCluster: [['request.cluster', 'ecs:cluster']],
  UpdateCluster: [['request.cluster', 'ecs:cluster']],
  CreateService: [
    ['response.service.serviceArn', 'arn'],
    ['request.cluster', 'ecs:cluster'],
  ],
  UpdateService: [
    ['response.service.serviceArn', 'arn'],
    ['request.cluster', 'ecs:cluster'],
  ],
  DeleteService: [
    ['response.service.serviceArn', 'arn'],
    ['request.cluster', 'ecs:cluster'],
  ],
  RegisterTaskDefinition: [['response.taskDefinition.taskDefinitionArn', 'arn']],
};

/** eventSource → eventName → where its resources are. S3: every bucket operation names `bucketName`. */
const TABLE: Record<string, Record<string, Lookup[]>> = {
  'ec2.amazonaws.com': ec2,
  'rds.amazonaws.com': rds,
  'elasticloadbalancing.amazonaws.com': elbv2,
  'iam.amazonaws.com': iam,
  'lambda.amazonaws.com': lambda,
  'eks.amazonaws.com': eks,
  'ecs.amazonaws.com': ecs,
};
const S3_BUCKET: Lookup[] = [['request.bucketName', 's3:bucket']];

/** Lambda's API names carry their version: CreateFunction20150331, UpdateFunctionCode20150331v2. */
export function baseEventName(source: string, name: string): string {
  return source === 'lambda.amazonaws.com' ? name.replace(/\d{8}(v\d+)?$/, '') : name;
}

const paths = new Map<string, { side: string; keys: string[] }>();
function parsed(path: string): { side: string; keys: string[] } {
  let p = paths.get(path);
  if (!p) {
    const [side, ...keys] = path.split('.');
    paths.set(path, (p = { side: side!, keys }));
  }
  return p;
}

function collect(doc: unknown, keys: string[], i: number, out: string[]): void {
  if (doc === null || doc === undefined) return;
  if (i === keys.length) {
    if (typeof doc === 'string' && doc) out.push(doc);
    return;
  }
  const k = keys[i]!;
  if (k.endsWith('[]')) {
    const v = k === '[]' ? doc : (doc as Doc)[k.slice(0, -2)];
    if (Array.isArray(v)) for (const x of v) collect(x, keys, i + 1, out);
    return;
  }
  if (typeof doc === 'object') collect((doc as Doc)[k], keys, i + 1, out);
}

/**
 * The resource ARNs a record is about, in order, without repeats: resources[].ARN first, then the
 * ids its event's table entry names. Lambda's qualified function ARNs (…:function:f:3) keep the
 * function's ARN.
 */
export function resolveResources(record: Doc): string[] {
  const out = new Set<string>();
  const resources = record.resources;
  if (Array.isArray(resources)) for (const r of resources) if (r && typeof (r as Doc).ARN === 'string' && (r as Doc).ARN) out.add((r as Doc).ARN as string);
  const source = typeof record.eventSource === 'string' ? record.eventSource : '';
  const name = baseEventName(source, typeof record.eventName === 'string' ? record.eventName : '');
  const lookups = source === 's3.amazonaws.com' ? S3_BUCKET : TABLE[source]?.[name];
  if (lookups) {
    const region = typeof record.awsRegion === 'string' ? record.awsRegion : '';
    const account =
      typeof record.recipientAccountId === 'string'
        ? record.recipientAccountId
        : (((record.userIdentity as Doc | undefined)?.accountId as string | undefined) ?? '');
    const ids: string[] = [];
    for (const [path, kind] of lookups) {
      ids.length = 0;
      const { side, keys } = parsed(path);
      collect(side === 'request' ? record.requestParameters : record.responseElements, keys, 0, ids);
      for (const id of ids) {
        let arn = awsArn(id, kind, region, account);
        if (kind === 'lambda:function' || arn.startsWith('arn:aws:lambda:')) arn = arn.replace(/^(arn:aws:lambda:[^:]*:[^:]*:function:[^:]+):.*$/, '$1');
        if (arn) out.add(arn);
      }
    }
  }
  return [...out];
}
