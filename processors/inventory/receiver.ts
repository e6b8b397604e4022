import { intakeConfig, intakeFactory, JSON_FILE_TYPES } from '../runtime/pipeline/intake.js';
import { parseScanBody, parseTerraformState } from './records.js';
import { SCANNER_TOPIC, scannerCodec, TERRAFORM_TOPIC, terraformCodec } from '../model/inventory.js';

/** Every record of a scan or a state snapshot under one key, so its end marker follows its resources. */
function inventoryMessages<R extends { kind: string; seen_ms: number }>(
  codec: { encode(r: R): Buffer },
  key: (r: R) => string,
  parsed: { records: R[]; errors: string[] },
) {
  const { records, errors } = parsed;
  return {
    messages: records.map((r) => ({ key: key(r), value: codec.encode(r), timestamp: r.seen_ms })),
    errors,
    accepted: records.filter((r) => r.kind === 'resource').length,
  };
}

export const resourcesReceiverConfigSchema = intakeConfig('/v1/resources', SCANNER_TOPIC, {});

/** Scans (resource inventories: `airdig scan`, or your own scanner's output) POSTed to /v1/resources → scanner_resources, keyed by scope. */
export const resourcesReceiverFactory = intakeFactory({
  type: 'resources',
  what: 'scans (resource inventories)',
  configSchema: resourcesReceiverConfigSchema,
  contentTypes: JSON_FILE_TYPES,
  parse: (body, _c, { now }) => inventoryMessages(scannerCodec, (r) => r.scope, parseScanBody(body, now)),
});

export const terraformReceiverConfigSchema = intakeConfig('/v1/terraform-state', TERRAFORM_TOPIC, {});

/** Terraform state files (v4, `terraform state pull`) POSTed to /v1/terraform-state → terraform_state, keyed by lineage. */
export const terraformReceiverFactory = intakeFactory({
  type: 'terraform_state',
  summaryName: 'terraform',
  what: 'Terraform state files',
  configSchema: terraformReceiverConfigSchema,
  contentTypes: JSON_FILE_TYPES,
  parse: (body, _c, { now }) => inventoryMessages(terraformCodec, (r) => r.lineage, parseTerraformState(body, now)),
});
