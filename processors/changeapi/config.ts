import { z } from 'zod';
import { intakeConfig } from '../runtime/pipeline/intake.js';
import { CHANGES_TOPIC } from '../model/changes.js';

export const DEFAULT_MAX_DETAILS_BYTES = 16 * 1024;

/** The changes_api receiver's config: the intake's settings, POST /v1/changes → airdig.changes. */
export const changesApiConfigSchema = intakeConfig('/v1/changes', CHANGES_TOPIC, {
  /** Longest details JSON kept per change; past it top-level keys are left out ("_truncated": true). */
  max_details_bytes: z.number().int().positive().default(DEFAULT_MAX_DETAILS_BYTES),
});
export type ChangesApiConfig = z.infer<typeof changesApiConfigSchema>;
