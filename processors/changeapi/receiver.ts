import { intakeFactory, JSON_FILE_TYPES } from '../runtime/pipeline/intake.js';
import { changeMessage } from '../model/changes.js';
import { changesApiConfigSchema } from './config.js';
import { parseChangesBody } from './records.js';

/**
 * POST /v1/changes → airdig.changes: AirDig's change JSON or PagerDuty Events API v2 change events,
 * one or a list, each written as an Avro change record keyed by its first resource.
 */
export const changesApiFactory = intakeFactory({
  type: 'changes_api',
  summaryName: 'changes',
  what: 'changes',
  configSchema: changesApiConfigSchema,
  contentTypes: JSON_FILE_TYPES,
  parse(body, config, at) {
    const { changes, errors } = parseChangesBody(body, { now: at.now, maxDetailsBytes: config.max_details_bytes });
    return { messages: changes.map(changeMessage), errors };
  },
});
