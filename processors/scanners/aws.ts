/*
 * `airdig scan aws`: an inventory of one account, one scan per region, through the AWS SDK v3
 * Describe/List calls. Attributes carry Terraform's names where a Terraform resource exists, so the
 * drift processor compares like with like. Paginated; throttling is retried by the SDK's adaptive
 * retry (exponential backoff with a client-side rate limiter); a service that fails is reported in
 * the scan's errors and makes the scan partial, so it removes nothing from the graph.
 */
import {
  EC2Client,
  paginateDescribeInstances,
  paginateDescribeNetworkInterfaces,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  paginateDescribeVolumes,
  paginateDescribeVpcs,
  type IpPermission,
  type Tag,
} from '@aws-sdk/client-ec2';
import { RDSClient, paginateDescribeDBInstances } from '@aws-sdk/client-rds';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  paginateDescribeLoadBalancers,
  paginateDescribeTargetGroups,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient, paginateListFunctions } from '@aws-sdk/client-lambda';
import { DescribeClusterCommand, EKSClient, paginateListClusters } from '@aws-sdk/client-eks';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { awsArn } from '../identity/aws.js';
import { errorMessage } from '../runtime/errors.js';

export interface ScanResource {
  id: string;
  type: string;
  name: string;
  attributes: Record<string, unknown>;
  tags: Record<string, string>;
  aliases: string[];
  relationships: { type: string; target: string }[];
}

/** The body POST /v1/resources takes. */
export interface ScanBody {
  scan: {
    id: string;
    provider: string;
    account?: string;
    region?: string;
    cluster?: string;
    completeness: 'complete' | 'partial' | 'failed';
    types: string[];
    errors: string[];
    time: string;
  };
  resources: ScanResource[];
}

export interface AwsScanOptions {
  regions: string[];
  /** An endpoint for every service (a local emulator); unset: AWS. */
  endpoint?: string;
  /** The account scanned; unset: asked of STS (GetCallerIdentity). */
  account?: string;
  /** Most attempts per call, throttling included (default 8). */
  maxAttempts?: number;
  now?: () => number;
}

const tagsOf = (tags: Tag[] | undefined): Record<string, string> => Object.fromEntries((tags ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? '']));
const nameTag = (tags: Tag[] | undefined) => tags?.find((t) => t.Key === 'Name')?.Value ?? '';

/** Security group rules as Terraform's ingress/egress blocks. */
function rulesOf(perms: IpPermission[] | undefined, self: string): Record<string, unknown>[] {
  return (perms ?? []).map((p) => {
    const groups = (p.UserIdGroupPairs ?? []).map((g) => g.GroupId ?? '').filter(Boolean);
    const description = [...(p.IpRanges ?? []), ...(p.Ipv6Ranges ?? []), ...(p.UserIdGroupPairs ?? [])].map((r) => r.Description).find(Boolean) ?? '';
    return {
      from_port: p.FromPort ?? 0,
      to_port: p.ToPort ?? 0,
      protocol: p.IpProtocol ?? '-1',
      cidr_blocks: (p.IpRanges ?? []).map((r) => r.CidrIp ?? ''),
      ipv6_cidr_blocks: (p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6 ?? ''),
      prefix_list_ids: (p.PrefixListIds ?? []).map((r) => r.PrefixListId ?? ''),
      security_groups: groups.filter((g) => g !== self),
      self: groups.includes(self),
      description,
    };
  });
}

/** Collects every page of a paginator. */
async function all<P, T>(pages: AsyncIterable<P>, items: (p: P) => T[] | undefined): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...(items(page) ?? []));
  return out;
}

type Lister = (ctx: { region: string; account: string; arn: (id: string) => string }) => Promise<ScanResource[]>;

/** One region's services: [name, node types it covers, lister]. */
function listers(o: AwsScanOptions, region: string): [string, string[], Lister][] {
  const config = { region, maxAttempts: o.maxAttempts ?? 8, retryMode: 'adaptive' as const, ...(o.endpoint ? { endpoint: o.endpoint } : {}) };
  const ec2 = new EC2Client(config);
  const rds = new RDSClient(config);
  const elb = new ElasticLoadBalancingV2Client(config);
  const lambda = new LambdaClient(config);
  const eks = new EKSClient(config);
  const client = { client: ec2 };
  const member = (targets: (string | undefined)[], arn: (id: string) => string) => targets.filter(Boolean).map((t) => ({ type: 'member_of', target: arn(t!) }));
  return [
    [
      'ec2 DescribeVpcs',
      ['ec2:vpc'],
      async ({ arn }) =>
        (await all(paginateDescribeVpcs(client, {}), (p) => p.Vpcs)).map((v) => ({
          id: arn(v.VpcId!),
          type: 'ec2:vpc',
          name: nameTag(v.Tags),
          tags: tagsOf(v.Tags),
          aliases: [v.VpcId!],
          relationships: [],
          attributes: { cidr_block: v.CidrBlock, instance_tenancy: v.InstanceTenancy, is_default: v.IsDefault ?? false },
        })),
    ],
    [
      'ec2 DescribeSubnets',
      ['ec2:subnet'],
      async ({ arn }) =>
        (await all(paginateDescribeSubnets(client, {}), (p) => p.Subnets)).map((s) => ({
          id: s.SubnetArn ?? arn(s.SubnetId!),
          type: 'ec2:subnet',
          name: nameTag(s.Tags),
          tags: tagsOf(s.Tags),
          aliases: [s.SubnetId!],
          relationships: member([s.VpcId], arn),
          attributes: {
            cidr_block: s.CidrBlock,
            availability_zone: s.AvailabilityZone,
            vpc_id: s.VpcId,
            map_public_ip_on_launch: s.MapPublicIpOnLaunch ?? false,
          },
        })),
    ],
    [
      'ec2 DescribeSecurityGroups',
      ['ec2:security-group'],
      async ({ arn }) =>
        (await all(paginateDescribeSecurityGroups(client, {}), (p) => p.SecurityGroups)).map((g) => ({
          id: g.SecurityGroupArn ?? arn(g.GroupId!),
          type: 'ec2:security-group',
          name: g.GroupName ?? '',
          tags: tagsOf(g.Tags),
          aliases: [g.GroupId!],
          relationships: member([g.VpcId], arn),
          attributes: {
            name: g.GroupName,
            description: g.Description,
            vpc_id: g.VpcId,
            ingress: rulesOf(g.IpPermissions, g.GroupId!),
            egress: rulesOf(g.IpPermissionsEgress, g.GroupId!),
          },
        })),
    ],
    [
      'ec2 DescribeInstances',
      ['ec2:instance'],
      async ({ arn }) =>
        (await all(paginateDescribeInstances(client, {}), (p) => p.Reservations?.flatMap((r) => r.Instances ?? [])))
          .filter((i) => i.State?.Name !== 'terminated')
          .map((i) => {
            const groups = (i.SecurityGroups ?? []).map((g) => g.GroupId!);
            return {
              id: arn(i.InstanceId!),
              type: 'ec2:instance',
              name: nameTag(i.Tags),
              tags: tagsOf(i.Tags),
              aliases: [i.InstanceId!, i.PrivateIpAddress ?? '', i.PrivateDnsName ?? ''].filter(Boolean),
              relationships: member([i.SubnetId, ...groups], arn),
              attributes: {
                ami: i.ImageId,
                instance_type: i.InstanceType,
                availability_zone: i.Placement?.AvailabilityZone,
                subnet_id: i.SubnetId,
                vpc_security_group_ids: groups,
                private_ip: i.PrivateIpAddress,
                key_name: i.KeyName,
                ebs_optimized: i.EbsOptimized ?? false,
                monitoring: i.Monitoring?.State === 'enabled',
                source_dest_check: i.SourceDestCheck ?? true,
                instance_state: i.State?.Name,
              },
            };
          }),
    ],
    [
      'ec2 DescribeNetworkInterfaces',
      ['ec2:network-interface'],
      async ({ arn }) =>
        (await all(paginateDescribeNetworkInterfaces(client, {}), (p) => p.NetworkInterfaces)).map((n) => ({
          id: arn(n.NetworkInterfaceId!),
          type: 'ec2:network-interface',
          name: n.Description ?? '',
          tags: tagsOf(n.TagSet),
          aliases: [n.NetworkInterfaceId!, n.PrivateIpAddress ?? ''].filter(Boolean),
          relationships: [
            ...(n.Attachment?.InstanceId ? [{ type: 'attached_to', target: arn(n.Attachment.InstanceId) }] : []),
            ...member([n.SubnetId, ...(n.Groups ?? []).map((g) => g.GroupId)], arn),
          ],
          attributes: {
            subnet_id: n.SubnetId,
            private_ip: n.PrivateIpAddress,
            description: n.Description,
            security_groups: (n.Groups ?? []).map((g) => g.GroupId),
            source_dest_check: n.SourceDestCheck ?? true,
          },
        })),
    ],
    [
      'ec2 DescribeVolumes',
      ['ec2:volume'],
      async ({ arn }) =>
        (await all(paginateDescribeVolumes(client, {}), (p) => p.Volumes)).map((v) => ({
          id: arn(v.VolumeId!),
          type: 'ec2:volume',
          name: nameTag(v.Tags),
          tags: tagsOf(v.Tags),
          aliases: [v.VolumeId!],
          relationships: (v.Attachments ?? []).filter((a) => a.InstanceId).map((a) => ({ type: 'attached_to', target: arn(a.InstanceId!) })),
          attributes: { availability_zone: v.AvailabilityZone, size: v.Size, type: v.VolumeType, encrypted: v.Encrypted ?? false, iops: v.Iops },
        })),
    ],
    [
      'rds DescribeDBInstances',
      ['rds:db'],
      async ({ arn }) =>
        (await all(paginateDescribeDBInstances({ client: rds }, {}), (p) => p.DBInstances)).map((d) => ({
          id: d.DBInstanceArn!,
          type: 'rds:db',
          name: d.DBInstanceIdentifier ?? '',
          tags: tagsOf(d.TagList),
          aliases: [d.DBInstanceIdentifier!, d.Endpoint?.Address ?? ''].filter(Boolean),
          relationships: member(
            (d.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId),
            arn,
          ),
          attributes: {
            identifier: d.DBInstanceIdentifier,
            engine: d.Engine,
            engine_version: d.EngineVersion,
            instance_class: d.DBInstanceClass,
            allocated_storage: d.AllocatedStorage,
            multi_az: d.MultiAZ ?? false,
            publicly_accessible: d.PubliclyAccessible ?? false,
            storage_encrypted: d.StorageEncrypted ?? false,
            vpc_security_group_ids: (d.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId),
          },
        })),
    ],
    [
      'elbv2 DescribeLoadBalancers',
      ['elasticloadbalancing:loadbalancer'],
      async ({ arn }) =>
        (await all(paginateDescribeLoadBalancers({ client: elb }, {}), (p) => p.LoadBalancers)).map((lb) => {
          const subnets = (lb.AvailabilityZones ?? []).map((z) => z.SubnetId);
          return {
            id: lb.LoadBalancerArn!,
            type: 'elasticloadbalancing:loadbalancer',
            name: lb.LoadBalancerName ?? '',
            tags: {},
            aliases: [lb.DNSName ?? ''].filter(Boolean),
            relationships: member([...subnets, ...(lb.SecurityGroups ?? [])], arn),
            attributes: {
              name: lb.LoadBalancerName,
              internal: lb.Scheme === 'internal',
              load_balancer_type: lb.Type,
              subnets,
              security_groups: lb.SecurityGroups ?? [],
              dns_name: lb.DNSName,
            },
          };
        }),
    ],
    [
      'elbv2 DescribeTargetGroups',
      ['elasticloadbalancing:targetgroup'],
      async ({ arn }) => {
        const groups = await all(paginateDescribeTargetGroups({ client: elb }, {}), (p) => p.TargetGroups);
        const out: ScanResource[] = [];
        for (const tg of groups) {
          const health = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }));
          const targets = (health.TargetHealthDescriptions ?? []).map((t) => t.Target?.Id).filter((id): id is string => !!id);
          out.push({
            id: tg.TargetGroupArn!,
            type: 'elasticloadbalancing:targetgroup',
            name: tg.TargetGroupName ?? '',
            tags: {},
            aliases: [],
            relationships: [
              ...targets.map((t) => ({ type: 'routes_to', target: arn(t) })),
              ...(tg.LoadBalancerArns ?? []).map((lb) => ({ type: 'member_of', target: lb })),
            ],
            attributes: { name: tg.TargetGroupName, port: tg.Port, protocol: tg.Protocol, target_type: tg.TargetType, vpc_id: tg.VpcId },
          });
        }
        return out;
      },
    ],
    [
      'lambda ListFunctions',
      ['lambda:function'],
      async ({ arn }) =>
        (await all(paginateListFunctions({ client: lambda }, {}), (p) => p.Functions)).map((f) => ({
          id: f.FunctionArn!,
          type: 'lambda:function',
          name: f.FunctionName ?? '',
          tags: {},
          aliases: [f.FunctionName!],
          relationships: member([...(f.VpcConfig?.SubnetIds ?? []), ...(f.VpcConfig?.SecurityGroupIds ?? [])], arn),
          attributes: {
            function_name: f.FunctionName,
            runtime: f.Runtime,
            handler: f.Handler,
            memory_size: f.MemorySize,
            timeout: f.Timeout,
            role: f.Role,
            package_type: f.PackageType,
          },
        })),
    ],
    [
      'eks ListClusters',
      ['eks:cluster'],
      async ({ arn }) => {
        const names = await all(paginateListClusters({ client: eks }, {}), (p) => p.clusters);
        const out: ScanResource[] = [];
        for (const name of names) {
          const c = (await eks.send(new DescribeClusterCommand({ name }))).cluster!;
          out.push({
            id: c.arn!,
            type: 'eks:cluster',
            name,
            tags: c.tags ?? {},
            aliases: [name],
            relationships: member([...(c.resourcesVpcConfig?.subnetIds ?? []), ...(c.resourcesVpcConfig?.securityGroupIds ?? [])], arn),
            attributes: { name, version: c.version, role_arn: c.roleArn, endpoint: c.endpoint },
          });
        }
        return out;
      },
    ],
  ];
}

/** Scans every region of the account the credentials belong to; one scan body per region. */
export async function scanAws(o: AwsScanOptions): Promise<ScanBody[]> {
  const now = o.now ?? Date.now;
  const sts = new STSClient({ region: o.regions[0] ?? 'us-east-1', maxAttempts: o.maxAttempts ?? 8, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
  let account = o.account ?? '';
  const out: ScanBody[] = [];
  if (!account) {
    try {
      account = (await sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
    } catch (err) {
      // Without the account nothing can be named: every region's scan failed.
      const time = new Date(now()).toISOString();
      return o.regions.map((region) => ({
        scan: {
          id: `aws//${region}/${time}`,
          provider: 'aws',
          account: '',
          region,
          completeness: 'failed',
          types: [],
          errors: [`sts GetCallerIdentity: ${errorMessage(err)}`],
          time,
        },
        resources: [],
      }));
    }
  }
  for (const region of o.regions) {
    const started = now();
    const arn = (id: string) => awsArn(id, 'ec2', region, account) || id;
    const resources: ScanResource[] = [];
    const errors: string[] = [];
    const types: string[] = [];
    const services = listers(o, region);
    for (const [name, covers, list] of services) {
      try {
        resources.push(...(await list({ region, account, arn })));
        types.push(...covers);
      } catch (err) {
        errors.push(`${name} ${region}: ${errorMessage(err)}`);
      }
    }
    const completeness = errors.length === 0 ? 'complete' : errors.length === services.length ? 'failed' : 'partial';
    out.push({
      scan: {
        id: `aws/${account}/${region}/${new Date(started).toISOString()}`,
        provider: 'aws',
        account,
        region,
        completeness,
        types,
        errors,
        time: new Date(started).toISOString(),
      },
      resources,
    });
  }
  return out;
}
