/** Durations on the command line: `500ms`, `30s`, `2m`, `1h`, `1d` (a bare number is seconds). */
import { UsageError } from './output.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(text).trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 500ms, 30s, 2m, 1h)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (!(ms > 0) || ms > 365 * UNITS.d!) throw new UsageError(`${flag}: duration out of range`);
  return Math.round(ms);
}
