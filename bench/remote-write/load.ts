// Load generator for bench/remote-write, run as a child process: distinct bodies (none is a replay). argv: url, version (1.0|2.0), series, duration ms, concurrency.
import http from 'node:http';
import { DistinctBodies } from './payload.js';

const [target, version, seriesArg, durationArg, concurrencyArg] = process.argv.slice(2);
const series = Number(seriesArg);
const bodies = new DistinctBodies(series, version === '2.0' ? '2.0' : '1.0');
const contentType = version === '2.0' ? 'application/x-protobuf;proto=io.prometheus.write.v2.Request' : 'application/x-protobuf';
const deadline = Date.now() + Number(durationArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrencyArg) });
const url = new URL(target!);
let requests = 0;
let sent = 0;
let failures = 0;
async function worker(): Promise<void> {
  while (Date.now() < deadline) {
    const body = bodies.next(sent++);
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
await Promise.all(Array.from({ length: Number(concurrencyArg) }, () => worker()));
agent.destroy();
process.stdout.write(JSON.stringify({ requests, samples: requests * series, failures }));
process.exit(0);
