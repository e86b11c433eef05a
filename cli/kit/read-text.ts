/** Reads a file a command needs; an unreadable one is ERR_CONFIG naming what it was. */
import { readFileSync } from 'node:fs';
import { parleyError } from '../../protocol/errors.js';

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read ${what} ${path}`, e);
  }
}
