/** The GraphQL documents the views send (processors/api/schema.graphql) and the shapes they get back. */

export type Health = 'HEALTHY' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

export interface GraphNode {
  id: string;
  type: string;
  name: string;
  provider: string;
  account: string;
  region: string;
  vpc: string | null;
  health: Health;
  openDrift: number;
  recentChanges: number;
  criticality: number;
  distance: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  type: string;
  calls: number | null;
  errors: number | null;
  errorRatio: number | null;
  p95Ms: number | null;
}

export interface Subgraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  truncated: boolean;
}

export interface Change {
  id: string;
  ts: string;
  source: string;
  eventSource: string;
  eventName: string;
  actor: string;
  actorType: string;
  account: string;
  region: string;
  resourceIds: string[];
  sourceIp: string;
  userAgent: string;
}

export interface Drift {
  id: string;
  ts: string;
  resourceId: string;
  resourceType: string;
  address: string;
  kind: 'MODIFIED' | 'MISSING' | 'UNMANAGED';
  attribute: string;
  expected: string;
  actual: string;
  causeEventId: string;
  causeActor: string;
  causeEventName: string;
  causeTs: string | null;
}

export interface HealthFact {
  id: string;
  ts: string;
  resourceId: string;
  status: Health;
  state: string;
  rule: string;
  reason: string;
  metric: string;
  value: number;
  threshold: number;
  labels: Record<string, unknown> | null;
}

export interface Hop {
  id: string;
  name: string;
  type: string;
  edge: string;
}

export interface Correlation {
  id: string;
  ts: string;
  causeId: string;
  causeKind: string;
  causeTs: string;
  causeResourceId: string;
  impactedResourceId: string;
  signal: string;
  signalId: string;
  score: number;
  claim: boolean;
  windowS: number;
  incidentId: string;
  rank: number;
  path: Hop[];
  evidence: unknown;
  explanation: string;
}

export interface RankedCause {
  rank: number;
  causeId: string;
  causeKind: string;
  resourceId: string;
  probability: number;
  score: number;
  explanation: string;
  change: Change | null;
  correlations: Correlation[];
}

export interface Incident {
  id: string;
  opened: string;
  resolved: string | null;
  status: 'OPEN' | 'RESOLVED';
  impacted: string[];
  signals: string[];
  causes: RankedCause[];
  revision: string;
}

export interface ServiceEdge {
  client: string;
  server: string;
  connectionType: string;
  calls: number;
  errors: number;
  errorRatio: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface Resource {
  id: string;
  type: string;
  provider: string;
  account: string;
  region: string;
  name: string;
  attributes: Record<string, unknown> | null;
  aliases: string[];
  firstSeen: string | null;
  lastSeen: string | null;
  health: Health;
  healthReason: string;
  criticality: number;
  openDrift: Drift[];
  changes: Change[];
  correlations: Pick<Correlation, 'id' | 'ts' | 'signal' | 'score' | 'claim' | 'incidentId' | 'explanation'>[];
  incidents: Pick<Incident, 'id' | 'status' | 'opened'>[];
  edgesIn: ServiceEdge[];
  edgesOut: ServiceEdge[];
}

export interface RuntimeEvent {
  id: string;
  ts: string;
  rule: string;
  priority: string;
  resourceId: string;
  hostname: string;
  output: string;
}

const NODE = 'id type name provider account region vpc health openDrift recentChanges criticality distance';
const EDGE = 'id source target type calls errors errorRatio p95Ms';
const CHANGE = 'id ts source eventSource eventName actor actorType account region resourceIds sourceIp userAgent';
const DRIFT = 'id ts resourceId resourceType address kind attribute expected actual causeEventId causeActor causeEventName causeTs';
const FACT = 'id ts resourceId status state rule reason metric value threshold labels';
const SERVICE_EDGE = 'client server connectionType calls errors errorRatio p50Ms p95Ms p99Ms';

export const GRAPH = `query Graph { graph(limit: 2000) { truncated nodes { ${NODE} } edges { ${EDGE} } } }`;
export const SERVICE_MAP = `query ServiceMap($minutes: Int) { serviceMap(minutes: $minutes) { truncated nodes { ${NODE} } edges { ${EDGE} } } }`;
export const DRIFT_LIST = `query Drift { drift(first: 200) { ${DRIFT} } }`;
export const INCIDENTS = `query Incidents { incidents(first: 50) { id opened resolved status impacted signals revision causes { rank causeId causeKind resourceId score probability explanation } } }`;
export const INCIDENT = `query Incident($id: String!) { incident(id: $id) {
  id opened resolved status impacted signals revision
  causes { rank causeId causeKind resourceId probability score explanation change { ${CHANGE} }
    correlations { id ts causeId causeKind causeTs causeResourceId impactedResourceId signal signalId score claim windowS incidentId rank
      path { id name type edge } evidence explanation } } } }`;
export const RESOURCE = `query Resource($id: String!) { resource(id: $id) {
  id type provider account region name attributes aliases firstSeen lastSeen health healthReason criticality
  openDrift { ${DRIFT} } changes(first: 10) { ${CHANGE} }
  correlations(first: 10) { id ts signal score claim incidentId explanation }
  incidents(first: 5) { id status opened }
  edgesIn { ${SERVICE_EDGE} } edgesOut { ${SERVICE_EDGE} } } }`;
export const RESOURCE_NAME = `query ResourceName($id: String!) { resource(id: $id) { id name type } }`;
export const HEALTH_HISTORY = `query HealthHistory($id: String!) {
  resource(id: $id) { id name type health healthReason healthHistory(first: 200) { ${FACT} } }
  runtimeEvents(resource: $id, first: 100) { id ts rule priority resourceId hostname output } }`;
export const RUNTIME_EVENTS = `query RuntimeEvents { runtimeEvents(first: 100) { id ts rule priority resourceId hostname output } }`;

export const ON_HEALTH = `subscription { healthChanged { ${FACT} } }`;
export const ON_INCIDENT = `subscription { incidentUpdated { id status revision } }`;
export const ON_DRIFT = `subscription { driftDetected { id resourceId kind } }`;
export const ON_CHANGE = `subscription { changeRecorded { id ts resourceIds actor eventName } }`;
export const ON_CORRELATION = `subscription { correlationAdded { id incidentId impactedResourceId score } }`;
