/**
 * `npm run bench [-- <name>...]`: runs the named benchmarks (all when none is named), then
 * rewrites bench/RESULTS.md from bench/results/ (bench/report.ts).
 * `npm run bench -- --report`: rewrites bench/RESULTS.md only.
 * `npm run bench -- --compare A.json B.json`: compares two result files (bench/compare.ts).
 */
import { markBenchStart } from './lib.js';

async function report(): Promise<void> {
  const { writeReport } = await import('./report.js');
  const { file, skipped } = writeReport();
  for (const s of skipped) console.error(`report: skipped ${s}`);
  console.log(`report: ${file}`);
}

const BENCHES: Record<string, () => Promise<void>> = {
  crypto: async () => (await import('./crypto.js')).run(),
  hop: async () => (await import('./hop.js')).run(),
  negotiate: async () => (await import('./negotiate.js')).run(),
  dispute: async () => (await import('./dispute.js')).run(),
  limit: async () => (await import('./limit.js')).run(),
  session: async () => (await import('./session.js')).run(process.argv.slice(2)),
  load: async () => (await import('./load.js')).run(process.argv.slice(2)),
  console: async () => (await import('./console.js')).run(),
};

const args = process.argv.slice(2);
const at = args.indexOf('--compare');
if (at >= 0) {
  const files = args.slice(at + 1);
  if (files.length !== 2 || args.length !== 3) {
    console.error('usage: npm run bench -- --compare A.json B.json');
    process.exit(2);
  }
  const { compare, CompareError } = await import('./compare.js');
  try {
    compare(files[0]!, files[1]!);
  } catch (e) {
    if (!(e instanceof CompareError)) throw e;
    console.error(`bench --compare: ${e.message}`);
    process.exit(2);
  }
  process.exit(0);
}

if (args.includes('--report')) {
  await report();
  process.exit(0);
}

// the words that follow an option taking a value (`--soak 10`) are not benchmark names
const asked = args.filter((a, i) => !a.startsWith('-') && !/^\d+(\.\d+)?$/.test(a) && !(i > 0 && args[i - 1] === '--keys'));
const names = asked.length ? asked : Object.keys(BENCHES);
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  markBenchStart();
  const t0 = performance.now();
  await bench();
  console.log(`bench ${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
await report();
