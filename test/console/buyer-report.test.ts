/**
 * The buyer's report: written from the buyer's files after a real session and a signed
 * contract, opened from file:// in chromium with the network cut off. It shows the ranked
 * agreements, a drawn chart with the utility and reservation series, and the contract as
 * valid; no script outside the file runs, no request leaves, the CSP reports no violation.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exampleRules, negotiated, worldSuite } from '../helpers/world.js';
import { launchBrowser } from '../helpers/browser.js';
import { reportData, reportHtml, scriptJson } from '../../buyer-cli/report.js';
import { parseRules } from '../../protocol/rules.js';

const test = suite('buyer report');
const world = worldSuite(test);

const INKED = new Function('c', "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;") as (c: unknown) => number;

test('scriptJson cannot close its script element', () => {
  const s = scriptJson({ item: '</script><script>alert(1)</script>' });
  assert.not.ok(s.includes('<'));
  assert.equal(JSON.parse(s), { item: '</script><script>alert(1)</script>' });
});

test('the report opens offline from file:// with the agreements, the chart and a valid contract', async () => {
  const { client, files } = await world.buyer('bob');
  const { session, results } = await negotiated(client);
  const best = results.agreements[0]!;
  await client.sign(session.sn, best.merchant, { completeWithinMs: 10_000 });
  const rules = parseRules(exampleRules());
  const data = reportData(files.session(session.sn), files.exchanges(), world.pki.ca.certificate, rules);
  const file = join(world.dir, 'report.html');
  writeFileSync(file, reportHtml(data));

  const browser = await launchBrowser();
  try {
    const context = await browser.newContext({ offline: true });
    const requests: string[] = [];
    context.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    await context.route(/^(?!file:)/, (route) => route.abort());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('#sn', { timeout: 20_000 });
    assert.is((await page.textContent('#sn'))?.trim(), session.sn);
    const rows = page.locator('tr.agreement');
    assert.is(await rows.count(), results.agreements.length);
    assert.ok((await rows.nth(0).textContent())!.includes(best.merchant), 'ranked by utility');
    const canvas = page.locator('#chart canvas');
    await canvas.waitFor({ timeout: 10_000 });
    assert.ok((await canvas.evaluate(INKED)) > 500, 'the chart is drawn');
    const legend = (await page.locator('#chart .u-legend').textContent())!;
    assert.ok(legend.includes('reservation'));
    assert.ok(legend.includes(`${best.merchant} utility`));
    const contract = page.locator('.contract').first();
    assert.ok((await contract.textContent())!.includes('valid'));
    assert.not.ok((await contract.textContent())!.includes('NOT valid'));
    assert.ok((await page.locator('tr.check').count()) > 3, 'every verification check listed');
    assert.equal(requests, [], 'no request left the file');
    assert.equal(problems, [], 'no script error or CSP violation');
    await context.close();
  } finally {
    await browser.close();
  }
});

test.run();
