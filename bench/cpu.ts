/**
 * CPU time spent, for benchmarks that count the CPU of a whole in-process deployment: this
 * process (all its threads) and the nats-server child (all its threads, from Linux's
 * per-thread schedstat, in nanoseconds).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds this process has used so far (user + system, every thread). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU milliseconds process `pid` has used so far, summed over its threads (Linux). */
export function pidCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e6;
}

/** CPU milliseconds of this process and of `serverPid` together. */
export function cpuMs(serverPid: number): number {
  return processCpuMs() + pidCpuMs(serverPid);
}
