/**
 * CPU time and resident memory of processes, from /proc (Linux), and this process's own
 * through node:process: what the `load` benchmark reports per process.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux build). */
const TICKS_PER_S = 100;

/** User + system CPU seconds used so far by `pid` (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces) in parentheses
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** Resident set size of `pid` in MiB. */
export function rssMiB(pid: number): number {
  if (pid === process.pid) return process.memoryUsage().rss / 2 ** 20;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface CpuShare {
  name: string;
  /** CPU seconds in the window */
  cpuS: number;
  /** share of one core over the window (1 = a whole core) */
  cores: number;
}

/** Starts a CPU window over `procs`; `end()` gives each one's CPU use since. */
export function cpuWindow(procs: Array<{ name: string; pid: number }>): { end(): CpuShare[] } {
  const t0 = performance.now();
  const start = procs.map((p) => cpuSeconds(p.pid));
  return {
    end: () => {
      const s = (performance.now() - t0) / 1000;
      return procs.map((p, i) => {
        const cpuS = cpuSeconds(p.pid) - start[i]!;
        return { name: p.name, cpuS, cores: cpuS / s };
      });
    },
  };
}
