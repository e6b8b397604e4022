/*
 * The demo's estate: a shop in one AWS account — a VPC with two subnets, a security group per
 * tier, instances for four services and the orders RDS database — written once and turned into
 * what each source says of it: a scan as `airdig scan aws` writes it, and a Terraform state that
 * manages the same resources. Which service runs where and who calls whom are in traffic.ts.
 */
import { awsArn } from '../identity/aws.js';
import { privateDns, type ScanItem, type TerraformResource } from './sources.js';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const NAMESPACE = 'shop';

/** A security group rule: a port range to or from CIDR blocks or other groups. */
export interface Rule {
  port: number;
  cidrs?: string[];
  groups?: string[];
  description?: string;
}

interface Group {
  id: string;
  name: string;
  description: string;
  ingress: Rule[];
  egress: Rule[];
}

interface Instance {
  id: string;
  name: string;
  ip: string;
  subnet: string;
  group: string;
}

export const VPC = { id: 'vpc-0shop', name: 'shop', cidr: '10.0.0.0/16' };
export const SUBNETS = [
  { id: 'subnet-0app', name: 'app', cidr: '10.0.1.0/24' },
  { id: 'subnet-0data', name: 'data', cidr: '10.0.2.0/24' },
];

const ALL: Rule = { port: -1, cidrs: ['0.0.0.0/0'] };

/** The rule the story revokes: payments' way to its database. */
export const DB_EGRESS: Rule = { port: 5432, groups: ['sg-0db'], description: 'orders database' };

export const GROUPS: Group[] = [
  { id: 'sg-0web', name: 'web', description: 'public web tier', ingress: [{ port: 443, cidrs: ['0.0.0.0/0'] }], egress: [ALL] },
  { id: 'sg-0chk', name: 'checkout', description: 'checkout service', ingress: [{ port: 8080, groups: ['sg-0web'] }], egress: [ALL] },
  {
    id: 'sg-0pay',
    name: 'payments',
    description: 'payments service',
    ingress: [{ port: 8443, groups: ['sg-0chk'] }],
    egress: [DB_EGRESS, { port: 443, cidrs: ['0.0.0.0/0'], description: 'card processor' }],
  },
  { id: 'sg-0db', name: 'orders-db', description: 'orders database', ingress: [{ port: 5432, groups: ['sg-0pay'] }], egress: [] },
];

export const INSTANCES: Instance[] = [
  { id: 'i-0web1', name: 'web-1', ip: '10.0.1.10', subnet: 'subnet-0app', group: 'sg-0web' },
  { id: 'i-0cat1', name: 'catalog-1', ip: '10.0.1.15', subnet: 'subnet-0app', group: 'sg-0web' },
  { id: 'i-0chk1', name: 'checkout-1', ip: '10.0.1.21', subnet: 'subnet-0app', group: 'sg-0chk' },
  { id: 'i-0chk2', name: 'checkout-2', ip: '10.0.1.22', subnet: 'subnet-0app', group: 'sg-0chk' },
  { id: 'i-0pay1', name: 'payments-1', ip: '10.0.1.31', subnet: 'subnet-0app', group: 'sg-0pay' },
  { id: 'i-0pay2', name: 'payments-2', ip: '10.0.1.32', subnet: 'subnet-0app', group: 'sg-0pay' },
];

export const DATABASE = { id: 'orders-db', endpoint: 'orders-db.c1x2y3z4.eu-west-1.rds.amazonaws.com', group: 'sg-0db', name: 'orders' };

const arn = (id: string) => awsArn(id, 'ec2', REGION, ACCOUNT);
const dbArn = awsArn(DATABASE.id, 'rds:db', REGION, ACCOUNT);

/** A rule as a Terraform ingress/egress block, which is also how the scanner writes rules. */
function block(r: Rule): Record<string, unknown> {
  return {
    from_port: Math.max(r.port, 0),
    to_port: Math.max(r.port, 0),
    protocol: r.port < 0 ? '-1' : 'tcp',
    cidr_blocks: r.cidrs ?? [],
    ipv6_cidr_blocks: [],
    prefix_list_ids: [],
    security_groups: r.groups ?? [],
    self: false,
    description: r.description ?? '',
  };
}

/** A rule in a line: "tcp 5432 → sg-0db", "all → 0.0.0.0/0". */
export function ruleText(r: Rule): string {
  return `${r.port < 0 ? 'all' : `tcp ${r.port}`} → ${[...(r.cidrs ?? []), ...(r.groups ?? [])].join(', ')}`;
}

/** What differs between the estate and what the scan sees: rules revoked, tags added. */
export interface EstateState {
  revoked?: { group: string; rule: Rule }[];
  tags?: Record<string, Record<string, string>>;
}

/** The estate as `airdig scan aws` reports it (ARNs, aliases, relationships, attributes, tags), in a given state. */
export function scanItems(state: EstateState = {}): ScanItem[] {
  const tags = (id: string, name: string) => ({ Name: name, Team: 'shop', ...(state.tags?.[id] ?? {}) });
  const kept = (g: Group, rules: Rule[]) => rules.filter((r) => !state.revoked?.some((x) => x.group === g.id && x.rule === r));
  return [
    {
      id: arn(VPC.id),
      type: 'ec2:vpc',
      name: VPC.name,
      aliases: [VPC.id],
      tags: tags(VPC.id, VPC.name),
      attributes: { cidr_block: VPC.cidr, instance_tenancy: 'default', is_default: false },
    },
    ...SUBNETS.map((s) => ({
      id: arn(s.id),
      type: 'ec2:subnet',
      name: s.name,
      aliases: [s.id],
      tags: tags(s.id, s.name),
      relationships: [{ type: 'member_of', target: arn(VPC.id) }],
      attributes: { cidr_block: s.cidr, availability_zone: `${REGION}a`, vpc_id: VPC.id, map_public_ip_on_launch: false },
    })),
    ...GROUPS.map((g) => ({
      id: arn(g.id),
      type: 'ec2:security-group',
      name: g.name,
      aliases: [g.id],
      tags: tags(g.id, g.name),
      relationships: [{ type: 'member_of', target: arn(VPC.id) }],
      attributes: {
        name: g.name,
        description: g.description,
        vpc_id: VPC.id,
        ingress: kept(g, g.ingress).map(block),
        egress: kept(g, g.egress).map(block),
      },
    })),
    ...INSTANCES.map((i) => ({
      id: arn(i.id),
      type: 'ec2:instance',
      name: i.name,
      aliases: [i.id, i.ip, privateDns(i.ip, REGION)],
      tags: tags(i.id, i.name),
      relationships: [i.subnet, i.group].map((t) => ({ type: 'member_of', target: arn(t) })),
      attributes: {
        instance_type: 't3.large',
        availability_zone: `${REGION}a`,
        subnet_id: i.subnet,
        vpc_security_group_ids: [i.group],
        private_ip: i.ip,
        instance_state: 'running',
      },
    })),
    {
      id: dbArn,
      type: 'rds:db',
      name: DATABASE.id,
      aliases: [DATABASE.id, DATABASE.endpoint],
      tags: tags(DATABASE.id, DATABASE.id),
      relationships: [{ type: 'member_of', target: arn(DATABASE.group) }],
      attributes: {
        identifier: DATABASE.id,
        engine: 'postgres',
        engine_version: '16.4',
        instance_class: 'db.t3.medium',
        allocated_storage: 100,
        vpc_security_group_ids: [DATABASE.group],
      },
    },
  ];
}

/** Terraform's name of a resource: web-1 → web_1. */
const tfName = (name: string) => name.replaceAll('-', '_');

/**
 * The same estate as Terraform manages it. Tags are left out: the story's tag change is not
 * Terraform's business here, and drift would report it (rightly) beside the rule.
 */
export function terraformResources(): TerraformResource[] {
  return [
    { type: 'aws_vpc', name: tfName(VPC.name), attributes: { id: VPC.id, arn: arn(VPC.id), cidr_block: VPC.cidr, owner_id: ACCOUNT } },
    ...SUBNETS.map((s) => ({
      type: 'aws_subnet',
      name: tfName(s.name),
      attributes: { id: s.id, arn: arn(s.id), cidr_block: s.cidr, vpc_id: VPC.id, availability_zone: `${REGION}a`, owner_id: ACCOUNT },
    })),
    ...GROUPS.map((g) => ({
      type: 'aws_security_group',
      name: tfName(g.name),
      attributes: {
        id: g.id,
        arn: arn(g.id),
        name: g.name,
        description: g.description,
        vpc_id: VPC.id,
        ingress: g.ingress.map(block),
        egress: g.egress.map(block),
        owner_id: ACCOUNT,
      },
    })),
    ...INSTANCES.map((i) => ({
      type: 'aws_instance',
      name: tfName(i.name),
      attributes: {
        id: i.id,
        arn: arn(i.id),
        instance_type: 't3.large',
        availability_zone: `${REGION}a`,
        subnet_id: i.subnet,
        vpc_security_group_ids: [i.group],
        private_ip: i.ip,
      },
    })),
    {
      type: 'aws_db_instance',
      name: 'orders',
      attributes: {
        id: DATABASE.id,
        arn: dbArn,
        identifier: DATABASE.id,
        engine: 'postgres',
        engine_version: '16.4',
        instance_class: 'db.t3.medium',
        allocated_storage: 100,
        vpc_security_group_ids: [DATABASE.group],
      },
    },
  ];
}

/** What the estate holds, in words: "1 VPC, 2 subnets, 4 security groups, 6 instances, 1 RDS database". */
export function estateSummary(): string {
  return `1 VPC, ${SUBNETS.length} subnets, ${GROUPS.length} security groups, ${INSTANCES.length} EC2 instances, 1 RDS database`;
}
