import { intakeConfig, intakeFactory } from '../runtime/pipeline/intake.js';
import { MalformedInputError } from '../runtime/errors.js';
import { FALCO_TOPIC, normalizeFalcoEvent, type RuntimeEventRow } from '../model/falco.js';

export const falcoReceiverConfigSchema = intakeConfig('/v1/falco', FALCO_TOPIC, {});

/**
 * A POST body of Falco alerts: one event or a list. Returns the events that are valid and a message
 * per invalid one; a body that is not JSON at all, or neither an object nor a list, is an error.
 */
export function parseFalcoBody(body: string, cluster = ''): { events: { row: RuntimeEventRow; json: string }[]; errors: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new MalformedInputError(`Falco body is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new MalformedInputError('Falco body is neither an event object nor a list of events');
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const events: { row: RuntimeEventRow; json: string }[] = [];
  const errors: string[] = [];
  list.forEach((o, i) => {
    try {
      events.push({ row: normalizeFalcoEvent(o, cluster), json: JSON.stringify(o) });
    } catch (err) {
      errors.push(Array.isArray(parsed) ? `event ${i}: ${(err as Error).message}` : (err as Error).message);
    }
  });
  return { events, errors };
}

/**
 * Falco alerts (json_output, http_output or falcosidekick's webhook) POSTed to /v1/falco →
 * falco_events, keyed by resource (pods in the service's cluster_name: Falco does not send one).
 */
export const falcoReceiverFactory = intakeFactory({
  type: 'falco',
  what: 'Falco alerts',
  configSchema: falcoReceiverConfigSchema,
  contentTypes: ['application/json'],
  parse(body, _c, { service }) {
    const { events, errors } = parseFalcoBody(body.toString('utf8'), service.cluster_name);
    return { messages: events.map((e) => ({ key: e.row.resource_id || null, value: Buffer.from(e.json) })), errors };
  },
});
