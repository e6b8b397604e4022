// bench/engine's Kafka feeder, a child process of run.ts (so that producing costs the measured
// process nothing): makes the same load and produces it to the broker when asked — "topology"
// (the graph, before the engine starts), "chunk <i>" (the i-th chunk of the feed plan); answers
// { done: <what was asked> } once the broker has acknowledged it.
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import { chunks, feedPlan, makeLoad, type Message } from './load.js';

const o = JSON.parse(process.argv[2]!) as {
  brokers: string;
  prefix: string;
  resources: number;
  minutes: number;
  warmMinutes: number;
  t0: number;
  rates: { changesPerMin: number; signalsPerMin: number; edgesPerMin: number; churnPerMin: number; plantedPerMin: number };
  chunk: number;
};
const load = makeLoad({ resources: o.resources, minutes: o.minutes, t0: o.t0, ...o.rates });
const plan = feedPlan(load, o.t0, o.warmMinutes, o.chunk);
const all = [...plan.warm, ...plan.measured];
const bus = new KafkaBus({ brokers: o.brokers, clientId: 'bench-engine-feed' });
const producer = bus.producer();

async function send(ms: readonly Message[]): Promise<void> {
  const by = new Map<string, { key: string; value: Buffer }[]>();
  for (const m of ms) {
    const t = `${o.prefix}${m.topic}`;
    let list = by.get(t);
    if (!list) by.set(t, (list = []));
    list.push({ key: m.key, value: m.value });
  }
  await Promise.all([...by].map(([t, list]) => producer.send(t, list)));
}

process.on('message', (op: string) => {
  void (async () => {
    if (op === 'exit') {
      await bus.close();
      process.exit(0);
    }
    if (op === 'topology') for (const c of chunks(load.topology, 20_000)) await send(c);
    else {
      const i = Number(op.split(' ')[1]);
      await send(all[i]!);
    }
    process.send!({ done: op });
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
});
