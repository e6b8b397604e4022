/**
 * `npm run grafana:dashboards`: writes docker/grafana/dashboards/*.json from dashboards.ts, in
 * the repository's Prettier style (so `npm run lint` passes on them), and removes a dashboard file
 * no longer generated. generate.test.ts checks the committed files equal what this makes now.
 */
import { readdirSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { dashboards } from './dashboards.js';

/** The repository's root, from this file's place in the source tree or in dist/. */
const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
export const DASHBOARD_DIR = path.join(REPO_ROOT, 'docker/grafana/dashboards');

/** Each dashboard's file name and text, as they are to be committed. */
export async function renderDashboards(): Promise<Map<string, string>> {
  const options = (await prettier.resolveConfig(path.join(DASHBOARD_DIR, 'x.json'))) ?? {};
  const files = new Map<string, string>();
  for (const d of dashboards()) {
    if (files.has(d.file)) throw new Error(`two dashboards write ${d.file}`);
    files.set(d.file, await prettier.format(JSON.stringify(d.json), { ...options, parser: 'json' }));
  }
  return files;
}

async function main(): Promise<void> {
  const files = await renderDashboards();
  mkdirSync(DASHBOARD_DIR, { recursive: true });
  for (const name of readdirSync(DASHBOARD_DIR)) if (name.endsWith('.json') && !files.has(name)) rmSync(path.join(DASHBOARD_DIR, name));
  for (const [name, text] of files) {
    const file = path.join(DASHBOARD_DIR, name);
    let old = '';
    try {
      old = readFileSync(file, 'utf8');
    } catch {
      // a new dashboard
    }
    if (old !== text) writeFileSync(file, text);
    console.log(`${old === text ? 'unchanged' : 'wrote'} ${path.relative(REPO_ROOT, file)}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
