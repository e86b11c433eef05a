/**
 * Part of cli/kit. Session numbers as people type them, like git hashes: the whole number,
 * any prefix that only one session has, or `last` for the newest. `known` lists the
 * candidates oldest first.
 */
import { parleyError } from '../../protocol/errors.js';
import { UsageError } from './output.js';

export function resolveSessionRef(ref: string, known: readonly string[], where: string): string {
  if (ref === 'last') {
    const newest = known[known.length - 1];
    if (!newest) throw parleyError('ERR_SESSION_UNKNOWN', `no session yet in ${where}`);
    return newest;
  }
  if (known.includes(ref)) return ref;
  const matches = known.filter((sn) => sn.startsWith(ref));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new UsageError(`session prefix ${ref} is ambiguous: ${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''}; give more characters`);
  // an unknown full number still goes on (the Agent Home may know it), a short one cannot
  if (ref.length >= 16) return ref;
  throw parleyError('ERR_SESSION_UNKNOWN', `no session ${ref} in ${where}`);
}
