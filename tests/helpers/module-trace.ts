/*
 * Loaded with `node --import` into a process under test: appends every module URL the process
 * resolves (and the module that imported it) to the file named by AIRDIG_MODULE_TRACE, so a test can tell which code a process
 * loaded (the AWS SDK, the graph API) without the product carrying a hook for it.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

type Context = { parentURL?: string };
type Next = (specifier: string, context: Context) => Promise<{ url: string }>;

// This file is both the --import entry (main thread: register the hooks) and the hooks module (hooks thread).
if (isMainThread && process.env.AIRDIG_MODULE_TRACE) register(import.meta.url);

export async function resolve(specifier: string, context: Context, next: Next): Promise<{ url: string }> {
  const result = await next(specifier, context);
  const file = process.env.AIRDIG_MODULE_TRACE;
  if (file) appendFileSync(file, `${result.url} ${context.parentURL ?? ''}\n`);
  return result;
}
