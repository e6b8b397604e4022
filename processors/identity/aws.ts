/*
 * AWS resource identity, shared by every source that names AWS resources: ARNs from short ids
 * (CloudTrail, Terraform state, OTel host.id), node types from ARNs, and the Terraform resource
 * types AirDig knows with the node type each one is.
 */

/** How a short id becomes an ARN (an id that already is an ARN is kept). */
export type ArnKind = 'ec2' | 'rds:db' | 'iam:role' | 'iam:user' | 's3:bucket' | 'lambda:function' | 'eks:cluster' | 'ecs:cluster' | 'arn';

/** EC2 ids name their type by prefix. */
const EC2_TYPES: [string, string][] = [
  ['sg-', 'security-group'],
  ['i-', 'instance'],
  ['vol-', 'volume'],
  ['eni-', 'network-interface'],
  ['vpc-', 'vpc'],
  ['subnet-', 'subnet'],
  ['igw-', 'internet-gateway'],
  ['rtb-', 'route-table'],
  ['nat-', 'natgateway'],
  ['ami-', 'image'],
  ['snap-', 'snapshot'],
  ['lt-', 'launch-template'],
  ['sgr-', 'security-group-rule'],
];

/** The ARN of a resource known by its short id in a region and account; '' when the id does not say what it is. */
export function awsArn(id: string, kind: ArnKind, region: string, account: string): string {
  if (id.startsWith('arn:')) return id;
  switch (kind) {
    case 'ec2': {
      const t = EC2_TYPES.find(([prefix]) => id.startsWith(prefix));
      return t ? `arn:aws:ec2:${region}:${account}:${t[1]}/${id}` : '';
    }
    case 'rds:db':
      return `arn:aws:rds:${region}:${account}:db:${id}`;
    case 'iam:role':
      return `arn:aws:iam::${account}:role/${id}`;
    case 'iam:user':
      return `arn:aws:iam::${account}:user/${id}`;
    case 's3:bucket':
      return `arn:aws:s3:::${id}`;
    case 'lambda:function':
      return `arn:aws:lambda:${region}:${account}:function:${id}`;
    case 'eks:cluster':
      return `arn:aws:eks:${region}:${account}:cluster/${id}`;
    case 'ecs:cluster':
      return `arn:aws:ecs:${region}:${account}:cluster/${id}`;
    case 'arn':
      return '';
  }
}

/** Node type (service:resource-type, e.g. ec2:instance), region and account of an ARN; type 'resource' for other shapes. */
export function arnParts(arn: string): { type: string; region: string; account: string; resource: string } {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return { type: 'resource', region: '', account: '', resource: arn };
  const resource = parts.slice(5).join(':');
  const cut = resource.search(/[/:]/);
  // S3 bucket ARNs have no resource type: arn:aws:s3:::my-bucket.
  const resourceType = parts[2] === 's3' && cut < 0 ? 'bucket' : cut < 0 ? resource : resource.slice(0, cut);
  return { type: `${parts[2]}:${resourceType}`, region: parts[3] ?? '', account: parts[4] ?? '', resource: cut < 0 ? resource : resource.slice(cut + 1) };
}

/** A Terraform resource type AirDig can place in the graph: its node type and how its id becomes an ARN. */
export interface AwsType {
  tf: string;
  node: string;
  kind: ArnKind;
}

export const AWS_TYPES: readonly AwsType[] = [
  { tf: 'aws_vpc', node: 'ec2:vpc', kind: 'ec2' },
  { tf: 'aws_subnet', node: 'ec2:subnet', kind: 'ec2' },
  { tf: 'aws_security_group', node: 'ec2:security-group', kind: 'ec2' },
  { tf: 'aws_instance', node: 'ec2:instance', kind: 'ec2' },
  { tf: 'aws_network_interface', node: 'ec2:network-interface', kind: 'ec2' },
  { tf: 'aws_ebs_volume', node: 'ec2:volume', kind: 'ec2' },
  { tf: 'aws_internet_gateway', node: 'ec2:internet-gateway', kind: 'ec2' },
  { tf: 'aws_route_table', node: 'ec2:route-table', kind: 'ec2' },
  { tf: 'aws_nat_gateway', node: 'ec2:natgateway', kind: 'ec2' },
  { tf: 'aws_db_instance', node: 'rds:db', kind: 'rds:db' },
  { tf: 'aws_lb', node: 'elasticloadbalancing:loadbalancer', kind: 'arn' },
  { tf: 'aws_alb', node: 'elasticloadbalancing:loadbalancer', kind: 'arn' },
  { tf: 'aws_lb_target_group', node: 'elasticloadbalancing:targetgroup', kind: 'arn' },
  { tf: 'aws_lambda_function', node: 'lambda:function', kind: 'lambda:function' },
  { tf: 'aws_eks_cluster', node: 'eks:cluster', kind: 'eks:cluster' },
  { tf: 'aws_ecs_cluster', node: 'ecs:cluster', kind: 'ecs:cluster' },
  { tf: 'aws_iam_role', node: 'iam:role', kind: 'iam:role' },
  { tf: 'aws_iam_user', node: 'iam:user', kind: 'iam:user' },
  { tf: 'aws_iam_policy', node: 'iam:policy', kind: 'arn' },
  { tf: 'aws_s3_bucket', node: 's3:bucket', kind: 's3:bucket' },
];

const BY_TF = new Map(AWS_TYPES.map((t) => [t.tf, t]));
const BY_NODE = new Map<string, AwsType>();
for (const t of AWS_TYPES) if (!BY_NODE.has(t.node)) BY_NODE.set(t.node, t);

export const awsTypeOfTf = (tf: string): AwsType | undefined => BY_TF.get(tf);
export const awsTypeOfNode = (node: string): AwsType | undefined => BY_NODE.get(node);

/** Node types other sources put in the graph. */
export const OTHER_NODE_TYPES: readonly string[] = [
  'k8s:cluster',
  'k8s:namespace',
  'k8s:node',
  'k8s:pod',
  'k8s:service',
  'k8s:deployment',
  'k8s:replicaset',
  'k8s:statefulset',
  'k8s:daemonset',
  'k8s:job',
  'container',
  'host',
  'service',
];
const KNOWN_NODE_TYPES = new Set([...AWS_TYPES.map((t) => t.node), ...OTHER_NODE_TYPES]);

/** The node type a scanner's type names (ec2:instance or aws_instance); undefined when AirDig does not know it. */
export function nodeTypeOf(type: string): string | undefined {
  if (KNOWN_NODE_TYPES.has(type)) return type;
  return BY_TF.get(type)?.node;
}

/** Who made a change, shortly: an ARN actor (role, user, assumed-role session) by its last part. */
export function shortActor(actor: string): string {
  const m = /[:/]([^:/]+)$/.exec(actor);
  return actor.startsWith('arn:') && m ? m[1]! : actor;
}
