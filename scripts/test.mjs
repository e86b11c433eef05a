#!/usr/bin/env node
// Runs every uvu suite under test/ (TypeScript through tsx) in one process and ends with
// one line `N passed, N failed` carrying the real totals. `npm test -- <pattern>` filters
// test files by a regular expression on their path.
//
// It first builds dist/ (incrementally: a second run with nothing changed takes seconds),
// and the tests that run `parley` as a child process then run the compiled CLI, as users
// do (test/helpers/cli.ts); under tsx every command took twice as long to start.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// uvu's "exports" map does not list bin.js, so locate it next to the resolved entry (dist/).
const uvuBin = join(dirname(require.resolve('uvu')), '..', 'bin.js');
const pattern = process.argv[2] ?? '\\.test\\.ts$';

const tsc = require.resolve('typescript/bin/tsc');
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: join(dirname(fileURLToPath(import.meta.url)), '..'), stdio: 'inherit' });
if (build.status !== 0) {
  console.log(`the build failed (exit ${build.status ?? build.signal}): tests not run`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const child = spawn(process.execPath, ['--import', 'tsx', uvuBin, 'test', pattern], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0', PARLEY_TEST_CLI: 'dist' },
});

let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});

child.on('close', (code, signal) => {
  // eslint-disable-next-line no-control-regex
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label) => {
    const m = plain.match(new RegExp(`${label}:\\s+(\\d+)`));
    return m ? Number(m[1]) : undefined;
  };
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped') ?? 0;
  if (total === undefined || passed === undefined) {
    console.log(`test runner ended without totals (exit ${code ?? signal})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const failed = total - passed - skipped;
  const bad = failed > 0 || code !== 0;
  console.log(`${passed} passed, ${bad && failed === 0 ? 1 : failed} failed`);
  process.exit(bad ? 1 : 0);
});
