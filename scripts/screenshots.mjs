#!/usr/bin/env node
// Regenerates the README's screenshots (docs/console-session.png, docs/buyer-report.png):
// runs `parley demo --console` (the built CLI), opens the arbiter console's session page and
// the buyer's report in Debian's chromium, and saves both. `npm run build` first.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'parley-shots-'));
const demo = spawn(process.execPath, [join(root, 'bin', 'parley.js'), 'demo', '--console', '--json', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
demo.stdout.on('data', (d) => (stdout += d));
demo.stderr.on('data', (d) => (stderr += d));
const url = await new Promise((resolve, reject) => {
  const t = setInterval(() => {
    const m = /^console: (\S+)$/m.exec(stderr);
    if (m) {
      clearInterval(t);
      resolve(m[1]);
    }
  }, 200);
  demo.once('exit', (code) => reject(new Error(`demo exited with ${code}:\n${stderr}`)));
});
const { sn, report } = JSON.parse(stdout);
const root0 = typeof process.getuid === 'function' && process.getuid() === 0;
const browser = await chromium.launch({ executablePath: process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium', headless: true, args: root0 ? ['--no-sandbox'] : [] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(url);
  await page.goto(`${new URL(url).origin}/#/session/${sn}`);
  await page.waitForSelector('#chart canvas');
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(root, 'docs', 'console-session.png'), fullPage: true });
  const r = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await r.goto(pathToFileURL(report).href);
  await r.waitForSelector('#chart canvas');
  await r.waitForTimeout(500);
  await r.screenshot({ path: join(root, 'docs', 'buyer-report.png'), fullPage: true });
  console.log('wrote docs/console-session.png and docs/buyer-report.png');
} finally {
  await browser.close();
  demo.kill('SIGINT');
  rmSync(out, { recursive: true, force: true });
}
