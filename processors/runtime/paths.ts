import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/processors/runtime/ is three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
