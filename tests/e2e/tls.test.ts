/*
 * TLS on every listener of `airdig run`, from one service.tls section: the official OpenTelemetry
 * exporters send over gRPC with TLS and HTTPS, the query endpoint answers over HTTPS and its native
 * port speaks TLS from the first byte, the admin port is HTTPS with /metrics behind a token; every
 * URL in the start-up summary says https. A plain-text client gets nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { parse, stringify } from 'yaml';
import { FREE_PORTS, startAirdig } from '../helpers/airdig.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { repoRoot } from '../helpers/kafka.js';
import { sendTopology } from '../helpers/otel.js';
import { waitFor } from '../helpers/wait.js';

function get(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('service.tls: OTLP gRPC and HTTP, the query endpoints and the admin port all speak TLS with the configured certificate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'airdig-tls-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const server = makeCert(dir, ca, 'airdig');
  const config = parse(readFileSync(path.join(repoRoot, 'pipelines/embedded.yaml'), 'utf8')) as { service: Record<string, unknown> };
  config.service.tls = { cert_file: server.certFile, key_file: server.keyFile };
  config.service.admin_bearer_token = 'scrape-me';
  const file = path.join(dir, 'airdig.yaml');
  writeFileSync(file, stringify(config));

  const airdig = await startAirdig(['--config', file, '--data-dir', path.join(dir, 'data'), ...FREE_PORTS], /^airdig: ready$/m, 120_000);
  t.after(() => airdig.stop());
  const out = airdig.stdout();
  for (const name of ['admin', 'query', 'otlp grpc', 'otlp http', 'remote write', 'cloudtrail', 'api', 'web view'])
    assert.match(out, new RegExp(`^ {2}${name} +https://127\\.0\\.0\\.1:\\d+`, 'm'), `${name} is announced as https`);
  assert.match(out, /^ {2}query-native +tcps:\/\/127\.0\.0\.1:\d+/m);
  assert.doesNotMatch(out, /WARNING/, 'loopback listeners are not warned about');

  // The admin port: HTTPS; /metrics needs the token, /healthz does not.
  const admin = airdig.url('admin');
  assert.equal((await get(`${admin}/healthz`, ca.cert)).status, 200);
  assert.equal((await get(`${admin}/metrics`, ca.cert)).status, 401);
  assert.match((await get(`${admin}/metrics`, ca.cert, { authorization: 'Bearer scrape-me' })).body, /airdig_/);

  // The official exporters over TLS: gRPC with the CA as its trust root, HTTP/protobuf over HTTPS.
  const grpcUrl = airdig.url('otlp grpc');
  const httpUrl = `${airdig.url('otlp http')}/v1/traces`;
  const sent = [
    ...(await sendTopology(() => new GrpcExporter({ url: grpcUrl, credentials: grpc.credentials.createSsl(Buffer.from(ca.cert)) }), 5)),
    ...(await sendTopology(() => new ProtoExporter({ url: httpUrl, httpAgentOptions: { ca: ca.cert } }), 5)),
  ];
  // A client that does not trust the CA is refused at the handshake.
  await assert.rejects(get(`${admin}/healthz`, makeCa(dir, 'other-ca').cert), /self-signed|unable to verify|certificate/);

  // The query endpoint over HTTPS holds what was sent.
  const query = airdig.url('query');
  const count = await waitFor(
    async () => {
      const r = await get(`${query}/?query=${encodeURIComponent('SELECT count() FROM otel_traces')}`, ca.cert);
      return r.status === 200 && Number(r.body) >= sent.length ? Number(r.body) : undefined;
    },
    30_000,
    'the spans in otel_traces',
  );
  assert.equal(count, sent.length);

  // The graph API over HTTPS, and the web view's own (https) origin is its own.
  const api = new URL('/graphql', airdig.url('api'));
  const graphql = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(
      api,
      { method: 'POST', ca: ca.cert, agent: false, headers: { 'Content-Type': 'application/json', Origin: `https://${api.host}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query: '{ serviceMap(minutes: 60) { edges { source target calls } } }' }));
  });
  assert.equal(graphql.status, 200, graphql.body);
  assert.ok((JSON.parse(graphql.body) as { data: { serviceMap: { edges: unknown[] } } }).data.serviceMap.edges.length > 0, graphql.body);

  // The native port: TLS from the first byte; a client Hello that is not one is answered, inside TLS, with ClickHouse's exception packet.
  const native = new URL(airdig.url('query-native').replace('tcps:', 'https:'));
  const answer = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({ host: native.hostname, port: Number(native.port), ca: ca.cert }, () => socket.write(Buffer.from([7, 7, 7, 7])));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  assert.equal(answer[0], 2, 'server packet 2: an exception');
  assert.match(answer.toString('latin1'), /UNEXPECTED_PACKET_FROM_CLIENT/);
});
