/**
 * Fault injection for the crash-recovery tests (test/recovery/): when the environment
 * variable PARLEY_CRASH_AT names a point (`PARLEY_CRASH_AT=home:resolve:after-settle`, or
 * several separated by commas), the process kills itself with SIGKILL the first time it
 * reaches that point — no cleanup, no flush, exactly as a power cut or `kill -9` would at
 * that instant. Without the variable every call is a no-op. The tests restart the killed
 * process without it and check that the work carries on.
 */
import { writeSync } from 'node:fs';

export function crashPoint(name: string): void {
  const at = process.env.PARLEY_CRASH_AT;
  if (!at || !at.split(',').includes(name)) return;
  try {
    writeSync(2, `parley: crash point ${name}: SIGKILL\n`);
  } catch {
    // stderr closed: crash anyway
  }
  process.kill(process.pid, 'SIGKILL');
}
