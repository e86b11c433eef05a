/**
 * `parley demo --console` as a user runs it: the demo finishes, prints the console's URL on
 * stderr and keeps it up; in chromium the sessions page lists the demo's session and its
 * page shows every bidding merchant and the resolved exchange; Ctrl-C ends it cleanly. The
 * buyer's report the demo writes opens offline.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { launchBrowser } from '../helpers/browser.js';
import { spawnParley } from '../helpers/cli.js';
import { tempDir } from '../helpers/paths.js';
import { eventually } from '../helpers/world.js';

const test = suite('parley demo --console');
const tmp = tempDir('parley-demo-console-');
test.after(() => tmp.remove());

test('the demo leaves the arbiter console up on its data until Ctrl-C', async () => {
  const demo = spawnParley(['demo', '--console', '--json', '--out', tmp.path]);
  const browser = await launchBrowser();
  try {
    const r = await demo.firstJson<{ sn: string; valid: boolean; report: string }>(120_000);
    assert.ok(r.valid, demo.stderr());
    const url = await eventually('the console line', () => /^console: (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)$/m.exec(demo.stderr())?.[1], 30_000);
    assert.is(demo.stderr().split(url).length, 2, 'the URL with its token is printed once');
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector(`tr[data-sn="${r.sn}"]`, { timeout: 30_000 });
    await page.click(`tr[data-sn="${r.sn}"] a`);
    await page.waitForSelector('#sn', { timeout: 30_000 });
    assert.is(await page.locator('.negotiation').count(), 3, 'the three stores bid');
    assert.ok((await page.locator('.exchange').allTextContents()).some((t) => t.includes('resolved')), 'the withheld signature was resolved');
    assert.ok(existsSync(r.report));
    const report = await browser.newPage();
    await report.goto(pathToFileURL(r.report).href);
    await report.waitForSelector('#chart canvas', { timeout: 20_000 });
  } finally {
    await browser.close();
    const code = await demo.stop('SIGINT');
    assert.is(code, 0, demo.stderr());
  }
});

test.run();
