import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { DriftIgnore } from './ignore.js';
import { CHANGES_TOPIC } from '../model/changes.js';
import { SCANNER_TOPIC, TERRAFORM_TOPIC } from '../model/inventory.js';
import { DRIFT_TOPIC } from '../model/drift.js';

export const DEFAULT_CAUSE_WINDOW_MS = 6 * 3600_000;
export const DEFAULT_IGNORE_FILE = '.driftignore';

export const driftConfigSchema = z
  .object({
    inputs: z
      .object({
        terraform_state: topicName.default(TERRAFORM_TOPIC),
        scanner_resources: topicName.default(SCANNER_TOPIC),
        changes: topicName.default(CHANGES_TOPIC),
      })
      .strict()
      .default({}),
    output: topicName.default(DRIFT_TOPIC),
    /** A CloudTrail change this long or less before a drift was seen, to the same resource, is named as its cause. */
    cause_window_ms: z.number().int().positive().default(DEFAULT_CAUSE_WINDOW_MS),
    /** A .driftignore file; its rules and `ignore`'s apply together. The default, .driftignore in the working directory, may be absent. */
    ignore_file: z.string().default(DEFAULT_IGNORE_FILE),
    /** .driftignore rules inline: type.id or type.id.attribute.path, with * wildcards. */
    ignore: z.array(z.string()).default([]),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type DriftConfig = z.infer<typeof driftConfigSchema>;

/** The ignore rules of a config: `ignore` and the rules of `ignore_file`. */
export function loadIgnore(c: DriftConfig): DriftIgnore {
  let text = c.ignore.join('\n');
  if (c.ignore_file) {
    try {
      text += `\n${readFileSync(c.ignore_file, 'utf8')}`;
    } catch (err) {
      if (c.ignore_file === DEFAULT_IGNORE_FILE && (err as { code?: string }).code === 'ENOENT') return new DriftIgnore(text);
      throw new Error(`drift: cannot read ignore_file ${c.ignore_file}: ${(err as Error).message}`);
    }
  }
  return new DriftIgnore(text);
}
