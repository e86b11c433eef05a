#!/usr/bin/env node
// Summarises V8 .cpuprofile files (node --cpu-prof): the functions with the most self time,
// and per file the busy share (everything but "(idle)"). Usage: profile-top.mjs FILE... [--top=N]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 20);
for (const file of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = p.timeDeltas;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const d = dt[i] ?? 0;
    total += d;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url ? basename(cf.url) : ''}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + d);
  }
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  console.log(`${basename(file)}: ${(total / 1e6).toFixed(2)} s profiled, ${((total - idle) / 1e6).toFixed(2)} s busy`);
  for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${(v / 1e3).toFixed(0).padStart(7)} ms  ${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
  }
}
