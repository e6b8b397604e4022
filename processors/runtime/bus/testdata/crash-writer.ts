// The writer of disklog.test.ts's crash test: sends keyed records to a durable bus in `dir` with
// several sends in flight, and prints each batch's number once its send resolved (acknowledged).
// The test kills it with SIGKILL at a random moment and reopens the log.
import { MemoryBus } from '../memory.js';

const [dir, topic] = process.argv.slice(2) as [string, string];
const bus = await MemoryBus.open(dir);
await bus.ensureTopics([{ name: topic, partitions: 3 }]);
const producer = bus.producer();
const inflight = new Set<Promise<void>>();
for (let batch = 0; ; batch++) {
  const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${(batch * 50 + i) % 97}`, value: Buffer.from(`${batch}:${i}`), headers: { batch: String(batch) } }));
  const p: Promise<void> = producer.send(topic, messages).then(() => {
    inflight.delete(p);
    process.stdout.write(`${batch}\n`);
  });
  inflight.add(p);
  if (inflight.size >= 8) await Promise.race(inflight);
}
