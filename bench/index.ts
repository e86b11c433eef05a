/**
 * `npm run bench [-- <name>...]`: runs the named benchmarks (all when none is named).
 */
const BENCHES: Record<string, () => Promise<void>> = {
  crypto: async () => (await import('./crypto.js')).run(),
  hop: async () => (await import('./hop.js')).run(),
  negotiate: async () => (await import('./negotiate.js')).run(),
};

const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = asked.length ? asked : Object.keys(BENCHES);
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
