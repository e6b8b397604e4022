/*
 * The web view in a real browser: Debian's Chromium driven by playwright-core against the built
 * CLI's `airdig demo` on free ports. Once the demo printed its answer, the incident is read through
 * the graph API (not hard-coded), and the page must draw it: the impacted services red in Unified,
 * the changed security group with a change badge, the inspector's chain change → … → signal, a
 * search by an alias centring its node. Every view renders, with a screenshot each, and any
 * console error or page error fails the test.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { FREE_PORTS, startCommand, type RunningAirdig } from '../helpers/airdig.js';
import { repoRoot } from '../helpers/kafka.js';

const VIEWS = ['unified', 'skygraph', 'deepdrift', 'tracecore', 'pulsesight', 'incident'] as const;
const SCREENSHOTS = path.join(repoRoot, '.airdig-test/screenshots');
const README_SCREENSHOTS = path.join(repoRoot, 'processors/webview/screenshots');

interface DemoIncident {
  id: string;
  impacted: string[];
  causes: { rank: number; resourceId: string; score: number; change: { actor: string; eventName: string; resourceIds: string[] } | null }[];
}

async function graphql<T>(api: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.ok(body.data && !body.errors, JSON.stringify(body.errors));
  return body.data;
}

/** Opens a view by its hash and waits until it has drawn and nothing is loading. */
async function openView(page: Page, hash: string): Promise<void> {
  const view = hash.split('/')[0]!;
  await page.evaluate((h) => ((globalThis as any).location.hash = h), hash);
  await page.waitForFunction(
    (v) => {
      const g = globalThis as any;
      return g.airdig?.view === v && g.document.querySelector(`[data-testid=view-${v}]`)?.dataset.ready === 'true' && g.airdig.busy === 0;
    },
    view,
    { timeout: 20_000 },
  );
}

/** Into the test's output, and with AIRDIG_UPDATE_SCREENSHOTS=1 also beside the web view's README. */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  if (process.env.AIRDIG_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(README_SCREENSHOTS, { recursive: true });
    copyFileSync(file, path.join(README_SCREENSHOTS, `${name}.png`));
  }
}

/** "rgb(229, 72, 77)" → [229, 72, 77]. */
function rgb(colour: string): number[] {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(colour);
  assert.ok(m, `not an rgb colour: ${colour}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

test('the web view draws the demo incident: services red, the change badge, the chain; no console error', { timeout: 300_000 }, async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  let demo: RunningAirdig | undefined;
  try {
    demo = await startCommand('demo', [...FREE_PORTS], /^Look further/m, 200_000);
    const out = demo.stdout();
    const api = /^ {2}(?:api|web view|graph api)\S* +(http:\/\/127\.0\.0\.1:\d+)/im.exec(out)?.[1];
    const printed = /^The answer \(airdig explain (inc-[0-9a-f]+)\):$/m.exec(out)?.[1];
    assert.ok(api && printed, out);

    // The incident as the API tells it.
    const { incident } = await graphql<{ incident: DemoIncident | null }>(
      api,
      `
        query ($id: String!) {
          incident(id: $id) {
            id
            impacted
            causes {
              rank
              resourceId
              score
              change {
                actor
                eventName
                resourceIds
              }
            }
          }
        }
      `,
      { id: printed },
    );
    assert.ok(incident, `the API knows ${printed}`);
    const top = incident.causes.find((c) => c.rank === 1);
    assert.ok(top?.change, JSON.stringify(incident));
    const services = incident.impacted.filter((id) => id.startsWith('service:'));
    assert.ok(services.length > 0, `impacted services in ${JSON.stringify(incident.impacted)}`);
    const health = await graphql<Record<string, { health: string } | null>>(
      api,
      `query { ${services.map((id, i) => `s${i}: resource(id: ${JSON.stringify(id)}) { health }`).join(' ')} }`,
    );
    const critical = services.filter((_, i) => health[`s${i}`]?.health === 'CRITICAL');
    assert.ok(critical.length > 0, `an impacted service is critical: ${JSON.stringify(health)}`);
    const group = top.resourceId;
    assert.match(group, /security-group\/sg-/, 'the top cause is on a security group');

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.stack ?? e.message}`));
    await page.goto(`${api}/#unified`);
    await openView(page, 'unified');

    // Impacted services: drawn, critical, red.
    for (const id of critical) {
      const node = await page.evaluate((nodeId) => {
        const n = (globalThis as any).airdig.graphs.unified.getElementById(nodeId);
        return n.nonempty() ? { health: n.data('health'), colour: n.style('background-color'), visible: n.visible() } : null;
      }, id);
      assert.ok(node, `${id} is drawn in Unified`);
      assert.equal(node.health, 'critical', id);
      assert.ok(node.visible, id);
      const [r, g, b] = rgb(node.colour);
      assert.ok(r! > 180 && g! < 110 && b! < 110, `${id} is red, not ${node.colour}`);
    }

    // The changed security group: a change badge on its node, in Unified and in SkyGraph.
    const badgeOf = (graph: string) =>
      page.evaluate(
        ({ graph, id }) => {
          const cy = (globalThis as any).airdig.graphs[graph];
          const node = cy.getElementById(id);
          const badge = cy.getElementById(`badge:change:${id}`);
          if (node.empty() || badge.empty()) return null;
          const nb = node.renderedBoundingBox();
          const bb = badge.renderedBoundingBox();
          return {
            recentChanges: node.data('recentChanges'),
            label: badge.data('label'),
            visible: badge.visible(),
            touches: bb.x1 <= nb.x2 + 8 && bb.x2 >= nb.x1 - 8 && bb.y1 <= nb.y2 + 8 && bb.y2 >= nb.y1 - 8,
          };
        },
        { graph, id: group },
      );
    const unifiedBadge = await badgeOf('unified');
    assert.ok(unifiedBadge, `${group} has a change badge in Unified`);
    assert.ok(unifiedBadge.recentChanges >= 1 && unifiedBadge.visible && unifiedBadge.touches, JSON.stringify(unifiedBadge));
    assert.match(unifiedBadge.label, /^Δ\d+$/);

    // Every view renders; a screenshot of each.
    for (const view of VIEWS) {
      await openView(page, view === 'incident' ? `incident/${incident.id}` : view);
      if (view === 'skygraph') {
        const skyBadge = await badgeOf('skygraph');
        assert.ok(skyBadge?.visible, `${group} has a change badge in SkyGraph`);
      }
      if (view === 'deepdrift') {
        const cause = await page.textContent('[data-testid=drift-row] [data-testid=drift-cause]');
        assert.match(cause ?? '', new RegExp(top.change.eventName), 'the drift names its CloudTrail cause');
      }
      if (view === 'tracecore') assert.ok((await page.locator('[data-testid=tracecore-edge]').count()) > 0, 'the service map has call edges');
      if (view === 'incident') {
        // The chain, drawn and written: the change, the resources it reached, the signal.
        const chain = await page.evaluate(() => {
          const cy = (globalThis as any).airdig.graphs.incident;
          const change = cy.$('node[kind = "change"]');
          return {
            changes: change.length,
            signalsReached: change.successors('node[kind = "signal"]').length,
            resources: change.successors('node[kind = "resource"]').map((n: any) => n.id()),
          };
        });
        assert.equal(chain.changes, 1, JSON.stringify(chain));
        assert.ok(chain.signalsReached >= 1, JSON.stringify(chain));
        assert.ok(chain.resources.includes(group), `the chain goes through ${group}: ${JSON.stringify(chain)}`);
        assert.ok(
          critical.some((id) => chain.resources.includes(id)),
          `the chain reaches an impacted service: ${JSON.stringify(chain)}`,
        );
        const steps = await page
          .locator('[data-testid=chain]')
          .first()
          .locator('li')
          .evaluateAll((items) => items.map((li) => `${(li as any).dataset.kind}:${li.textContent}`));
        assert.match(steps[0] ?? '', new RegExp(`^change:${top.change.actor.split(/[/:]/).pop()} ${top.change.eventName}$`), steps.join(' → '));
        assert.match(steps.at(-1) ?? '', /^signal:/, steps.join(' → '));
        assert.ok(
          steps.slice(1, -1).every((s) => s.startsWith('resource:')),
          steps.join(' → '),
        );
        assert.equal(await page.textContent('[data-testid=incident-id]'), incident.id);
        assert.ok((await page.locator('[data-testid=incident-timeline] li').count()) >= 3, 'a time line');
      }
      assert.equal(
        await page.getAttribute('[data-testid=status]', 'class'),
        'status',
        `no error in the status line: ${await page.textContent('[data-testid=status]')}`,
      );
      await screenshot(page, view);
    }
    // Search by an alias (the private IP of payments-1): its node selected and centred in Unified, its details shown.
    await openView(page, 'unified');
    await page.fill('[data-testid=search]', '10.0.1.31');
    await page.press('[data-testid=search]', 'Enter');
    await page.waitForFunction(
      () => (globalThis as any).document.querySelector('[data-testid=details-id]')?.textContent?.includes('instance/i-0pay1'),
      undefined,
      {
        timeout: 10_000,
      },
    );
    assert.equal(await page.textContent('[data-testid=details-name]'), 'payments-1');
    const selected = await page.evaluate(() =>
      (globalThis as any).airdig.graphs.unified
        .$('node:selected')
        .map((n: any) => n.id())
        .join(),
    );
    assert.match(selected, /instance\/i-0pay1$/);

    await screenshot(page, 'search');
    // The live updates' socket is open (graphql-ws over the same port).
    await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-testid=live]')?.textContent === 'live', undefined, {
      timeout: 10_000,
    });
    assert.deepEqual(problems, [], problems.join('\n'));

    assert.equal(await demo.stop('SIGINT'), 0, demo.stderr());
  } finally {
    await browser.close();
    await demo?.stop('SIGKILL');
  }
});

test(
  'with a bearer token configured, the page asks for it, refuses a wrong one, and uses the right one on HTTP and WebSocket (live updates)',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airdig-webview-'));
    const config = path.join(dir, 'airdig.yaml');
    const embedded = readFileSync(path.join(repoRoot, 'pipelines/embedded.yaml'), 'utf8');
    assert.match(embedded, /^ {2}api: \{\}/m);
    writeFileSync(config, embedded.replace(/^ {2}api: \{\}/m, '  api: { bearer_token: "s3cret-token" }'));
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    let airdig: RunningAirdig | undefined;
    try {
      airdig = await startCommand('run', ['--config', config, '--data-dir', path.join(dir, 'data'), ...FREE_PORTS], /^airdig: ready$/m, 90_000);
      const web = airdig.url('web view');
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const problems: string[] = [];
      let refusals = 0;
      page.on('console', (m) => {
        // The browser logs each 401 itself; those are the point here.
        if (m.type() === 'error' && /status of 401/.test(m.text())) refusals++;
        else if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.stack ?? e.message}`));
      await page.goto(`${web}/#unified`);
      await page.waitForSelector('[data-testid=token-dialog][open]', { timeout: 10_000 });
      assert.match((await page.textContent('[data-testid=token-dialog]')) ?? '', /asks for a token/);

      await page.fill('[data-testid=token-input]', 'wrong-token');
      await page.press('[data-testid=token-input]', 'Enter');
      await page.waitForFunction(
        () => /refused that token/.test((globalThis as any).document.querySelector('[data-testid=token-dialog][open]')?.textContent ?? ''),
        undefined,
        {
          timeout: 10_000,
        },
      );

      await page.fill('[data-testid=token-input]', 's3cret-token');
      await page.press('[data-testid=token-input]', 'Enter');
      await openView(page, 'unified');
      await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-testid=live]')?.textContent === 'live', undefined, {
        timeout: 15_000,
      });
      assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('airdig.token')), 's3cret-token');
      assert.equal(await page.locator('[data-testid=token-dialog][open]').count(), 0);
      assert.ok(refusals >= 2, `the API refused the page without a token and with the wrong one (${refusals} refusals)`);

      // A live update through the socket the token opened: a posted change reaches the page.
      const posted = await fetch(`${airdig.url('otlp http')}/v1/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'webview-live-1',
          time: new Date().toISOString(),
          resources: ['service:shop/orders'],
          summary: 'orders 1.4.2 → 1.5.0',
          kind: 'deploy',
        }),
      });
      assert.equal(posted.status, 200, await posted.text());
      await page.waitForFunction(
        () => (globalThis as any).airdig.events.some((e: any) => e.type === 'changeRecorded' && e.data?.changeRecorded?.id === 'webview-live-1'),
        undefined,
        { timeout: 15_000 },
      );

      // Another view with the kept token: no prompt, no refusal.
      const before = refusals;
      await openView(page, 'deepdrift');
      assert.equal(refusals, before);
      assert.deepEqual(problems, [], problems.join('\n'));
      assert.equal(await airdig.stop('SIGINT'), 0, airdig.stderr());
    } finally {
      await browser.close();
      await airdig?.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
