/**
 * Reads a file a command needs; an unreadable one is ERR_CONFIG naming what it was, and with
 * `fix` the command that creates it ("run `parley home init`").
 */
import { readFileSync } from 'node:fs';
import { parleyError } from '../../protocol/errors.js';

export function readText(path: string, what: string, fix?: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read ${what} ${path}${fix ? `: ${fix}` : ''}`, e);
  }
}
