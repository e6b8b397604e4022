import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { KEEP_ALIVE_TIMEOUT_MS, listenHttp } from './http.js';

/** One POST on `agent`; whether it went over a connection used before. */
function post(url: string, agent: http.Agent): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end('x');
  });
}

test('an idle keep-alive connection outlives the clients’ own idle gaps: the server does not close it first (a reset for the client reusing it)', async () => {
  assert.ok(KEEP_ALIVE_TIMEOUT_MS > 90_000, 'longer than Go net/http’s IdleConnTimeout');
  const listening = await listenHttp('127.0.0.1:0', (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.deepEqual(await post(listening.url, agent), { status: 204, reused: false });
    // Node's default would close it after 5 s; a Prometheus shard often sends again after 5–15 s.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.deepEqual(await post(listening.url, agent), { status: 204, reused: true });
  } finally {
    agent.destroy();
    await listening.close();
  }
});

test('a listener takes at most its connection limit: the next connection is closed at once, and the other listeners keep answering', async () => {
  const { connect } = await import('node:net');
  const handler: http.RequestListener = (_req, res) => res.writeHead(204).end();
  const flooded = await listenHttp('127.0.0.1:0', handler, { maxConnections: 5 });
  const other = await listenHttp('127.0.0.1:0', handler, { maxConnections: 5 });
  const sockets: import('node:net').Socket[] = [];
  try {
    const open = (port: number) =>
      new Promise<{ socket: import('node:net').Socket; closedQuickly: Promise<boolean> }>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          sockets.push(socket);
          const closedQuickly = new Promise<boolean>((r) => {
            socket.once('close', () => r(true));
            setTimeout(() => r(false), 1_000);
          });
          resolve({ socket, closedQuickly });
        });
        socket.on('error', () => {});
      });
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await open(flooded.port));
    const extra = await open(flooded.port);
    assert.equal(await extra.closedQuickly, true, 'the sixth connection is closed by the server');
    assert.deepEqual(await Promise.all(idle.map((c) => c.closedQuickly)), [false, false, false, false, false], 'the five idle ones stay');
    const res = await fetch(other.url);
    assert.equal(res.status, 204, 'another listener answers');
  } finally {
    for (const s of sockets) s.destroy();
    await flooded.close();
    await other.close();
  }
});
