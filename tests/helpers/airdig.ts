import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './kafka.js';

/** Every listener of `airdig run` on a free port (127.0.0.1:0), as the end-to-end tests start it. */
export const FREE_PORTS: readonly string[] = ['--admin', '--query', '--query-native', '--otlp-grpc', '--otlp-http', '--remote-write', '--api'].flatMap(
  (flag) => [flag, '127.0.0.1:0'],
);

export const CLI = path.join(repoRoot, 'dist/processors/cli/main.js');

export interface RunningAirdig {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** URL printed for a listener ("admin", "query", …). */
  url(name: string): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `airdig run` with args and waits until it printed `waitFor` (default: the admin line). */
export async function startAirdig(args: string[], waitFor: RegExp = /^ {2}admin /m, timeoutMs = 60_000, cwd = repoRoot): Promise<RunningAirdig> {
  return startCommand('run', args, waitFor, timeoutMs, cwd);
}

/** Starts `airdig <command>` with args and waits until it printed `waitFor`. */
export async function startCommand(command: string, args: readonly string[], waitFor: RegExp, timeoutMs: number, cwd = repoRoot): Promise<RunningAirdig> {
  // AIRDIG_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches node itself, for profiling a benchmark.
  const nodeFlags = process.env.AIRDIG_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeFlags, CLI, command, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!waitFor.test(out)) {
    if (child.exitCode !== null) throw new Error(`airdig exited with ${child.exitCode}\nstdout:\n${out}\nstderr:\n${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`airdig did not print ${waitFor} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    url(name) {
      const m = new RegExp(`^ {2}${name} +((?:https?|tcps?)://\\S+?)(/\\S*)?(\\s|$)`, 'm').exec(out);
      if (!m) throw new Error(`no ${name} line in:\n${out}`);
      return m[1]!;
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
