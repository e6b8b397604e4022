import { z } from 'zod';
import { intakeConfig, intakeFactory } from '../runtime/pipeline/intake.js';
import { parseFalcoBody } from './events.js';

export const falcoReceiverConfigSchema = intakeConfig('/v1/falco', 'falco_events', {
  /** Kubernetes cluster name for the pods Falco alerts name (Falco does not send one). */
  cluster_name: z.string().default(''),
});

/** Falco alerts (json_output, http_output or falcosidekick's webhook) POSTed to /v1/falco → falco_events, keyed by resource. */
export const falcoReceiverFactory = intakeFactory({
  type: 'falco',
  what: 'Falco alerts',
  configSchema: falcoReceiverConfigSchema,
  contentTypes: ['application/json'],
  parse(body, c) {
    const { events, errors } = parseFalcoBody(body.toString('utf8'), c.cluster_name);
    return { messages: events.map((e) => ({ key: e.row.resource_id || null, value: Buffer.from(e.json) })), errors };
  },
});
