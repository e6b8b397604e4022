import { intakeConfig, intakeFactory, JSON_FILE_TYPES } from '../runtime/pipeline/intake.js';
import { cloudTrailMessage, parseCloudTrailBody } from './records.js';
import { CLOUDTRAIL_TOPIC } from '../model/changes.js';

export const cloudTrailReceiverConfigSchema = intakeConfig('/v1/cloudtrail', CLOUDTRAIL_TOPIC, {});

/** CloudTrail log files as S3 stores them (.json.gz or unpacked), EventBridge events or records POSTed to /v1/cloudtrail → cloudtrail_events. */
export const cloudTrailReceiverFactory = intakeFactory({
  type: 'cloudtrail',
  what: 'CloudTrail records',
  configSchema: cloudTrailReceiverConfigSchema,
  contentTypes: JSON_FILE_TYPES,
  parse(body) {
    const { records, errors } = parseCloudTrailBody(body);
    return { messages: records.map((r) => cloudTrailMessage(r)), errors };
  },
});
