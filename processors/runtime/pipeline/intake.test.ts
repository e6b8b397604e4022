// The JSON intakes (CloudTrail, scans, Terraform state, changes, Falco) against bodies that are
// bombs: a gzip file that unpacks far past the request limit, however it is labelled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { MemoryBus } from '../bus/memory.js';
import type { Store } from '../store/store.js';
import { startHttpReceivers } from '../../../tests/helpers/component.js';

const LIMIT = 4 * 1024 * 1024;

/** `size` zero bytes, gzipped at level 9 (about 1 000 : 1). */
async function bomb(size: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise((r) => gz.on('end', r));
  const chunk = Buffer.alloc(1024 * 1024);
  for (let n = 0; n < size; n += chunk.length) if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(parts);
}

test('gzip bombs on every JSON intake: 413 within the limit, whether sent as a file or with Content-Encoding; nothing published; a valid body right after is taken', async () => {
  const bus = new MemoryBus();
  const limits = { max_request_bytes: LIMIT };
  const receivers = await startHttpReceivers(
    bus,
    {} as Store,
    {},
    { falco: limits, cloudtrail: limits, resources: limits, terraform_state: limits, changes_api: limits },
  );
  try {
    const big = await bomb(256 * 1024 * 1024);
    assert.ok(big.length < LIMIT, `the bomb (${big.length} bytes) is under the request limit: only its unpacked size is over`);
    const intakes = ['falco', 'cloudtrail', 'resources', 'terraform', 'changes'];
    for (const name of intakes) assert.ok(receivers.urls[name], `${name} listens (${Object.keys(receivers.urls)})`);
    const rssBefore = process.memoryUsage().rss;
    for (const name of intakes) {
      for (const [label, headers] of [
        // Falco sends JSON only: its bomb is the file form labelled JSON.
        ['a .gz file', { 'Content-Type': name === 'falco' ? 'application/json' : 'application/gzip' }],
        ['application/json, Content-Encoding: gzip', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }],
      ] as const) {
        const started = performance.now();
        const res = await fetch(receivers.urls[name]!, { method: 'POST', headers, body: big });
        const text = await res.text();
        assert.equal(res.status, 413, `${name} (${label}): ${res.status} ${text}`);
        assert.match(text, /over the limit of 4194304 bytes/);
        assert.ok(performance.now() - started < 5_000, `${name} (${label}) answered in ${Math.round(performance.now() - started)} ms`);
      }
    }
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grown < 128, `RSS grew ${grown.toFixed(0)} MiB for ten bombs of 256 MiB each`);
    assert.deepEqual(
      bus.describe().filter((p) => p.end > 0),
      [],
      'nothing was published',
    );
    // The intake is fine afterwards: a valid gzipped CloudTrail file is taken.
    const record = { eventID: 'e-1', eventTime: '2026-12-01T10:00:00Z', eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances', awsRegion: 'eu-west-1' };
    const ok = await fetch(receivers.urls.cloudtrail!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/gzip' },
      body: gzipSync(JSON.stringify({ Records: [record] })),
    });
    assert.equal(ok.status, 200, await ok.text());
  } finally {
    await receivers.shutdown();
    await bus.close();
  }
});

test('a web page cannot post to AirDig: a foreign Origin (or a cross-site fetch) is 403 on every receiver path before the body is read; allowed OTLP origins keep CORS', async () => {
  const bus = new MemoryBus();
  const receivers = await startHttpReceivers(bus, {} as Store, {}, { otlp: { cors_allowed_origins: ['https://grafana.example'] } });
  try {
    const paths = ['otlp http', 'otlp metrics', 'otlp logs', 'falco', 'cloudtrail', 'resources', 'terraform', 'changes'];
    const record = JSON.stringify({ eventID: 'e', eventTime: '2026-12-01T10:00:00Z', eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances' });
    for (const name of paths) {
      const url = receivers.urls[name]!;
      assert.ok(url, name);
      // The "simple" request a page can send without a preflight.
      const foreign = await fetch(url, { method: 'POST', headers: { Origin: 'http://evil.example', 'Content-Type': 'text/plain' }, body: record });
      assert.equal(foreign.status, 403, `${name}: ${await foreign.text()}`);
      const noOrigin = await fetch(url, { method: 'POST', headers: { 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'application/json' }, body: record });
      assert.equal(noOrigin.status, 403, `${name} (Sec-Fetch-Site: cross-site)`);
      await noOrigin.text();
      const preflight = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
      assert.equal(preflight.status, 403, `${name} preflight`);
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      await preflight.text();
    }
    // No browser, no Origin: the request is judged on its merits (text/plain is not a type these take).
    const plain = await fetch(receivers.urls.cloudtrail!, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: record });
    assert.equal(plain.status, 415, await plain.text());
    assert.deepEqual(
      bus.describe().filter((p) => p.end > 0),
      [],
      'nothing was published',
    );
    // An origin OTLP allows keeps its CORS preflight and its posts.
    const ok = await fetch(receivers.urls['otlp http']!, {
      method: 'OPTIONS',
      headers: { Origin: 'https://grafana.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://grafana.example');
    const traces = await fetch(receivers.urls['otlp http']!, {
      method: 'POST',
      headers: { Origin: 'https://grafana.example', 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [] }),
    });
    assert.equal(traces.status, 200, await traces.text());
  } finally {
    await receivers.shutdown();
    await bus.close();
  }
});

test('gzip inside gzip is refused (400), so a few kilobytes cannot unpack twice into a large body', async () => {
  const bus = new MemoryBus();
  const receivers = await startHttpReceivers(bus, {} as Store);
  try {
    const twice = gzipSync(gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)));
    assert.ok(twice.length < 100_000);
    const variants: Record<string, string>[] = [{ 'Content-Type': 'application/gzip' }, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }];
    for (const headers of variants) {
      const res = await fetch(receivers.urls.cloudtrail!, { method: 'POST', headers, body: gzipSync(twice) });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      assert.match(text, /gzip body inside gzip/);
    }
  } finally {
    await receivers.shutdown();
    await bus.close();
  }
});
