// Load generator for bench/otlp, run as a child process so the receiver's process measures only itself.
// argv: protocol (http|grpc), target, spans per request, duration ms, concurrency. Prints JSON {requests, spans}.
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

async function httpWorker(agent: http.Agent, id: number): Promise<void> {
  const url = new URL(target!);
  for (let i = id; Date.now() < deadline; i++) {
    const body = payloads[i % payloads.length]!;
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
    if (status === 200) requests++;
    else failures++;
  }
}

async function grpcWorker(client: grpc.Client, id: number): Promise<void> {
  for (let i = id; Date.now() < deadline; i++) {
    const body = payloads[i % payloads.length]!;
    const ok = await new Promise<boolean>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (err) => resolve(!err),
      ),
    );
    if (ok) requests++;
    else failures++;
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
process.stdout.write(JSON.stringify({ requests, spans: requests * spans, failures }));
process.exit(0);
