/**
 * `npm run bench [-- <name>...]`: runs the named benchmarks (all when none is named).
 * `npm run bench -- --compare A.json B.json`: compares two result files (bench/compare.ts).
 */
const BENCHES: Record<string, () => Promise<void>> = {
  crypto: async () => (await import('./crypto.js')).run(),
  hop: async () => (await import('./hop.js')).run(),
  negotiate: async () => (await import('./negotiate.js')).run(),
  dispute: async () => (await import('./dispute.js')).run(),
  limit: async () => (await import('./limit.js')).run(),
  session: async () => (await import('./session.js')).run(process.argv.slice(2)),
  load: async () => (await import('./load.js')).run(process.argv.slice(2)),
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

const asked = args.filter((a) => !a.startsWith('-'));
const names = asked.length ? asked : Object.keys(BENCHES);
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
