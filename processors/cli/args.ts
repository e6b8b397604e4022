import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../runtime/errors.js';

/** A command line that does not parse: printed with the command's help, exit status 2. */
export class UsageError extends Error {}

/** parseArgs with positionals, strict; a bad flag is a UsageError carrying `help`. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, help: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${errorMessage(err)}\n\n${help}`);
  }
}

/** fetch() to a running airdig; a refused connection says so, naming where and suggesting why. */
export async function fetchAirdig(target: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(target, init);
  } catch (err) {
    throw new Error(`cannot reach ${target.origin}: ${errorMessage((err as { cause?: unknown }).cause ?? err)} (is 'airdig run' running?)`);
  }
}
