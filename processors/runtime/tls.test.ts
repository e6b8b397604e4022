import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { makeCa, makeCert, type Pem } from '../../tests/helpers/certs.js';
import { ConfigError } from './errors.js';
import { listenHttp } from './http.js';
import { startAdminServer } from './admin/server.js';
import { ServerTls, serviceTls } from './tls.js';
import { exposureWarning } from '../cli/pipeline.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'airdig-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A GET over TLS trusting ca: the status, the body and the fingerprint of the certificate the server showed. */
function get(
  url: string,
  ca: string,
  o: { client?: Pem; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, headers: o.headers, ...(o.client ? { cert: o.client.cert, key: o.client.key } : {}) }, (res) => {
      const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
    });
    req.on('error', reject);
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

test('HTTPS with the service certificate; a renewed certificate is taken for new connections; a broken renewal keeps the old one', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const first = makeCert(dir, ca, 'server-1');
  const certFile = path.join(dir, 'live.crt');
  const keyFile = path.join(dir, 'live.key');
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  const serverTls = new ServerTls({ cert_file: certFile, key_file: keyFile, client_ca_file: '', reload_interval_ms: 0 });
  const listening = await listenHttp('127.0.0.1:0', (_req, res) => res.writeHead(200).end('ok'), { tls: serverTls });
  t.after(() => listening.close());
  assert.match(listening.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const a = await get(listening.url, ca.cert);
  assert.equal(a.status, 200);
  assert.equal(a.fingerprint, fingerprintOf(first.cert));
  // Plain HTTP on a TLS port gets no answer.
  await assert.rejects(
    new Promise((resolve, reject) => http.get(listening.url.replace('https', 'http'), { agent: false }, resolve).on('error', reject)),
    /socket hang up|ECONNRESET|Parse Error/,
  );

  assert.equal(serverTls.reload(), false, 'nothing changed: nothing reloaded');
  const second = makeCert(dir, ca, 'server-2');
  writeFileSync(certFile, second.cert);
  writeFileSync(keyFile, second.key);
  const later = new Date(Date.now() + 5_000);
  utimesSync(certFile, later, later);
  assert.equal(serverTls.reload(), true);
  assert.equal((await get(listening.url, ca.cert)).fingerprint, fingerprintOf(second.cert), 'new connections see the renewed certificate');

  // A renewal caught half-written: the key is not the certificate's.
  writeFileSync(keyFile, first.key);
  const latest = new Date(Date.now() + 10_000);
  utimesSync(keyFile, latest, latest);
  assert.equal(serverTls.reload(), false);
  assert.equal((await get(listening.url, ca.cert)).fingerprint, fingerprintOf(second.cert), 'the old certificate stays');
});

test('mutual TLS: a client without a certificate, or with one another CA signed, is refused; one the client CA signed is served', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const server = makeCert(dir, ca, 'server');
  const clientCa = makeCa(dir, 'client-ca');
  const client = makeCert(dir, clientCa, 'alice', { client: true });
  const stranger = makeCert(dir, ca, 'mallory', { client: true });
  const serverTls = new ServerTls({ cert_file: server.certFile, key_file: server.keyFile, client_ca_file: clientCa.certFile, reload_interval_ms: 0 });
  assert.equal(serverTls.mutual, true);
  const listening = await listenHttp('127.0.0.1:0', (req, res) => res.writeHead(200).end((req.socket as tls.TLSSocket).getPeerCertificate().subject.CN), {
    tls: serverTls,
  });
  t.after(() => listening.close());
  assert.deepEqual((await get(listening.url, ca.cert, { client })).body, 'alice');
  await assert.rejects(get(listening.url, ca.cert), /certificate|alert|ECONNRESET|socket hang up/);
  await assert.rejects(get(listening.url, ca.cert, { client: stranger }), /certificate|alert|ECONNRESET|socket hang up/);
});

test('service.tls whose files are missing or do not parse is a configuration error naming the file', (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const server = makeCert(dir, ca, 'server');
  assert.throws(
    () => serviceTls({ cert_file: path.join(dir, 'nope.crt'), key_file: server.keyFile, client_ca_file: '', reload_interval_ms: 0 }),
    (err: unknown) => err instanceof ConfigError && /service\.tls\.cert_file: cannot read .*nope\.crt: ENOENT/.test(err.message),
  );
  const garbage = path.join(dir, 'garbage.crt');
  writeFileSync(garbage, 'not a certificate');
  assert.throws(
    () => serviceTls({ cert_file: garbage, key_file: server.keyFile, client_ca_file: '', reload_interval_ms: 0 }),
    (err: unknown) => err instanceof ConfigError && /service\.tls: .*garbage\.crt/.test(err.message),
  );
  assert.equal(serviceTls(undefined), undefined);
});

test('the admin port: /metrics needs the configured token or basic credentials (401 naming the schemes); /healthz and /readyz stay open for probes', async (t) => {
  const registry = new Registry();
  const admin = await startAdminServer({
    address: '127.0.0.1:0',
    registry,
    readiness: () => ({ ready: true, state: 'ready', checks: {} }),
    credentials: { bearer_token: 's3cret', basic_auth: { username: 'prom', password: 'pw' } },
  });
  t.after(() => admin.close());
  const status = async (p: string, authorization?: string) => {
    const res = await fetch(`${admin.url}${p}`, { headers: authorization ? { authorization } : {} });
    await res.arrayBuffer();
    return { status: res.status, challenge: res.headers.get('www-authenticate') };
  };
  assert.deepEqual(await status('/metrics'), { status: 401, challenge: 'Bearer, Basic' });
  assert.equal((await status('/metrics', 'Bearer wrong')).status, 401);
  assert.equal((await status('/metrics', 'Bearer s3cret')).status, 200);
  assert.equal((await status('/metrics', `Basic ${Buffer.from('prom:pw').toString('base64')}`)).status, 200);
  assert.equal((await status('/metrics', `Basic ${Buffer.from('prom:nope').toString('base64')}`)).status, 401);
  assert.equal((await status('/healthz')).status, 200);
  assert.equal((await status('/readyz')).status, 200);
});

test('a listener beyond loopback that asks for no credentials is warned about; on loopback, or with credentials, it is not', () => {
  assert.match(
    exposureWarning({ name: 'otlp http', url: 'http://0.0.0.0:4318/v1/traces', open: true }) ?? '',
    /WARNING: otlp http on http:\/\/0\.0\.0\.0:4318.*no credentials/,
  );
  assert.match(exposureWarning({ name: 'query', url: 'http://[::]:8123', open: true }) ?? '', /WARNING: query/);
  assert.match(exposureWarning({ name: 'query', url: 'http://10.0.0.5:8123', open: true }) ?? '', /WARNING/);
  assert.equal(exposureWarning({ name: 'otlp http', url: 'http://0.0.0.0:4318/v1/traces', open: false }), undefined);
  assert.equal(exposureWarning({ name: 'query', url: 'http://127.0.0.1:8123', open: true }), undefined);
  assert.equal(exposureWarning({ name: 'query', url: 'http://[::1]:8123', open: true }), undefined);
});
