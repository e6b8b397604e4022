// Load generator for bench/otlp, run as a child process so the receiver's process measures only itself.
// argv: protocol (http|grpc), target, spans per request, duration ms, concurrency.
// Prints JSON {requests, spans, failures, p50Ms, p99Ms} (latency of the answered requests).
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { tracesPayload } from './payload.js';

const [protocol, target, spansArg, durationArg, concurrencyArg] = process.argv.slice(2);
const spans = Number(spansArg);
const duration = Number(durationArg);
const concurrency = Number(concurrencyArg);
const payloads = Array.from({ length: 16 }, (_, i) => Buffer.from(tracesPayload(spans, i)));
const deadline = Date.now() + duration;
let requests = 0;
let failures = 0;
const latencies: number[] = [];

async function httpWorker(agent: http.Agent, id: number): Promise<void> {
  const url = new URL(target!);
  for (let i = id; Date.now() < deadline; i++) {
    const body = payloads[i % payloads.length]!;
    const started = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (status === 200) {
      requests++;
      latencies.push(performance.now() - started);
    } else failures++;
  }
}

async function grpcWorker(client: grpc.Client, id: number): Promise<void> {
  for (let i = id; Date.now() < deadline; i++) {
    const body = payloads[i % payloads.length]!;
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (err) => resolve(!err),
      ),
    );
    if (ok) {
      requests++;
      latencies.push(performance.now() - started);
    } else failures++;
  }
}

if (protocol === 'http') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  await Promise.all(Array.from({ length: concurrency }, (_, i) => httpWorker(agent, i)));
  agent.destroy();
} else {
  const client = new grpc.Client(target!, grpc.credentials.createInsecure());
  await Promise.all(Array.from({ length: concurrency }, (_, i) => grpcWorker(client, i)));
  client.close();
}
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.stdout.write(JSON.stringify({ requests, spans: requests * spans, failures, p50Ms: at(0.5), p99Ms: at(0.99) }));
process.exit(0);
