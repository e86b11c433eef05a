/**
 * The soak's memory rule (`npm run bench -- load --soak 10`), apart from the load benchmark so
 * that bench/report.ts can apply it to stored samples.
 */
export interface MemoryPeak {
  process: string;
  middleMiB: number;
  lastMiB: number;
  ratio: number;
}

/**
 * The heap grows to its working size during the first minutes, and from one GC cycle to
 * the next RSS swings by a fifth or more, so two single samples compare a trough with a
 * peak as often as not. A leak raises the peaks: for each process, the highest sample of
 * the last third is compared with the highest of the middle third.
 */
export function memoryPeaks(samples: Array<{ byProcess: Record<string, number> }>): MemoryPeak[] {
  const third = Math.floor(samples.length / 3);
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.byProcess)))];
  const peak = (xs: typeof samples, name: string) => Math.max(...xs.map((s) => s.byProcess[name] ?? 0));
  return names.map((process) => {
    const middleMiB = peak(samples.slice(third, 2 * third), process);
    const lastMiB = peak(samples.slice(2 * third), process);
    return { process, middleMiB, lastMiB, ratio: middleMiB > 0 ? lastMiB / middleMiB : Infinity };
  });
}
