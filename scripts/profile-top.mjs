#!/usr/bin/env node
// Summarises V8 .cpuprofile files (node --cpu-prof): the functions with the most self time,
// and per file the busy share (everything but "(idle)"). Usage: profile-top.mjs FILE... [--top=N]
// [--last=S]: only the samples of the last S seconds of each profile (a benchmark's window).
// [--inclusive]: rank by total time (self plus callees) instead of self time.
// [--callers=NAME]: also the call paths (5 frames up) that lead to functions named NAME.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const lastS = Number(process.argv.find((a) => a.startsWith('--last='))?.slice(7) ?? Infinity);
const inclusive = process.argv.includes('--inclusive');
const callersOf = process.argv.find((a) => a.startsWith('--callers='))?.slice(10);
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 20);
/** A frame's label: function, file and line. */
const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url ? basename(n.callFrame.url) : ''}:${n.callFrame.lineNumber + 1}`;

for (const file of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const parentOf = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
  const dt = p.timeDeltas;
  let total = 0;
  // sample i was taken at startTime + Σ dt[0..i]
  const at = [];
  for (let i = 0, t = p.startTime; i < p.samples.length; i++) at.push((t += dt[i] ?? 0));
  const from = p.endTime - lastS * 1e6;
  for (let i = 0; i < p.samples.length; i++) {
    if (at[i] < from) continue;
    const n = byId.get(p.samples[i]);
    const d = dt[i] ?? 0;
    total += d;
    const key = label(n);
    if (!inclusive) self.set(key, (self.get(key) ?? 0) + d);
    else if (key.startsWith('(idle)')) self.set(key, (self.get(key) ?? 0) + d);
    else {
      // each function once per sample, however deep it recurses
      const onStack = new Set();
      for (let up = n; up; up = parentOf.get(up.id)) onStack.add(label(up));
      for (const k of onStack) self.set(k, (self.get(k) ?? 0) + d);
    }
  }
  if (callersOf) {
    const paths = new Map();
    for (let i = 0; i < p.samples.length; i++) {
      if (at[i] < from) continue;
      let n = byId.get(p.samples[i]);
      // the innermost frame named NAME on this sample's stack
      while (n && n.callFrame.functionName !== callersOf) n = parentOf.get(n.id);
      if (!n) continue;
      const chain = [];
      for (let up = parentOf.get(n.id); up && chain.length < 5; up = parentOf.get(up.id)) chain.push(label(up));
      const key = chain.join(' < ');
      paths.set(key, (paths.get(key) ?? 0) + (dt[i] ?? 0));
    }
    console.log(`${basename(file)}: call paths into ${callersOf}`);
    for (const [k, v] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(v / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
  }
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  self.delete('(root) :0');
  console.log(`${basename(file)}: ${(total / 1e6).toFixed(2)} s profiled, ${((total - idle) / 1e6).toFixed(2)} s busy`);
  for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${(v / 1e3).toFixed(0).padStart(7)} ms  ${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
  }
}
