import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../errors.js';

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
