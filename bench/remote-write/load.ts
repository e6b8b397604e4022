// Load generator for bench/remote-write, run as a child process. argv: url, version (1.0|2.0), series, duration ms, concurrency.
import http from 'node:http';
import { remoteWriteBodies } from './payload.js';

const [target, version, seriesArg, durationArg, concurrencyArg] = process.argv.slice(2);
const series = Number(seriesArg);
const bodies = Array.from({ length: 8 }, (_, i) => remoteWriteBodies(series, i)[version === '2.0' ? 'v2' : 'v1']);
const contentType = version === '2.0' ? 'application/x-protobuf;proto=io.prometheus.write.v2.Request' : 'application/x-protobuf';
const deadline = Date.now() + Number(durationArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrencyArg) });
const url = new URL(target!);
let requests = 0;
let failures = 0;
async function worker(id: number): Promise<void> {
  for (let i = id; Date.now() < deadline; i++) {
    const body = bodies[i % bodies.length]!;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: { 'Content-Type': contentType, 'Content-Encoding': 'snappy', 'Content-Length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (status === 204) requests++;
    else failures++;
  }
}
await Promise.all(Array.from({ length: Number(concurrencyArg) }, (_, i) => worker(i)));
agent.destroy();
process.stdout.write(JSON.stringify({ requests, samples: requests * series, failures }));
process.exit(0);
