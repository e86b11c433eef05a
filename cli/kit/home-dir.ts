/**
 * Where Parley keeps a user's files: --home, else PARLEY_HOME, else
 * $XDG_DATA_HOME/parley (default ~/.local/share/parley).
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function parleyHome(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.PARLEY_HOME) return resolve(process.env.PARLEY_HOME);
  const xdg = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(xdg, 'parley');
}
