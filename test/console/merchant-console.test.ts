/**
 * The merchant console in a real browser, on the data directories of real stores after real
 * sessions: a store's own bids and the verdicts its contract implies match what the Agent
 * Home negotiated; the chart is drawn; a new invitation (declined) appears without a reload;
 * nothing of another merchant, of the buyer's rules or, before signing, of the buyer's
 * identity reaches any answer; the token rules hold and wire-borne text renders as text.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { eventually, LAPTOPS, negotiated, worldSuite } from '../helpers/world.js';
import { launchBrowser, pageAt, rawGet } from '../helpers/browser.js';
import { startMerchantConsole } from '../../store/console-command.js';
import type { RunningConsole } from '../../agents/console/server.js';

const test = suite('merchant console');
const world = worldSuite(test);
const BUYER = 'buyer-zeta';
let browser: Browser;
const consoles = new Map<string, RunningConsole>();
let signedSn: string;
let winner: string;
let unsignedSn: string;
const INKED = new Function('c', "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;") as (c: unknown) => number;
const tokenOf = (c: RunningConsole) => new URL(c.url).searchParams.get('token')!;

test.before(async () => {
  const { client } = await world.buyer(BUYER);
  const first = await negotiated(client);
  signedSn = first.session.sn;
  winner = first.results.agreements[0]!.merchant;
  await client.sign(signedSn, winner, { completeWithinMs: 10_000 });
  unsignedSn = (await negotiated(client)).session.sn;
  for (const [id, h] of world.stores) consoles.set(id, await startMerchantConsole(h.config, h.dataDir));
  browser = await launchBrowser();
});
test.after(async () => {
  await browser?.close();
  for (const c of consoles.values()) await c.close();
});

async function open(id: string, hash = '') {
  const c = consoles.get(id)!;
  const opened = await pageAt(browser, c.url);
  if (hash) await opened.page.goto(`${c.origin}/${hash}`);
  return opened;
}

test('the winner sees its bids with the verdicts its contract implies, as the Agent Home negotiated them', async () => {
  const n = (await world.home.state.negotiation(signedSn, winner))!;
  const accepted = n.rounds.findIndex((r) => r.accept) + 1;
  assert.ok(accepted >= 1, 'the Agent Home accepted one of its bids');
  const { page } = await open(winner, `#/session/${signedSn}`);
  await page.waitForSelector('#sn', { timeout: 30_000 });
  await eventually('the contract is complete', async () => ((await page.textContent('#outcome'))?.includes('won') ? true : undefined), 30_000);
  const rows = page.locator('tr.bid');
  assert.is(await rows.count(), n.k, 'every committed bid is listed');
  for (let i = 0; i < n.k; i++) {
    const text = (await rows.nth(i).locator('td.verdict').textContent())!.trim();
    const want = i + 1 < accepted ? 'rejected' : i + 1 === accepted ? 'accepted' : 'not revealed';
    assert.is(text, want, `bid ${i + 1}`);
    if (i < n.rounds.length) assert.ok((await rows.nth(i).textContent())!.includes(String(n.rounds[i]!.bid.price)), `bid ${i + 1} is the one revealed`);
  }
  const canvas = page.locator('#chart canvas');
  await canvas.waitFor({ timeout: 10_000 });
  assert.ok((await canvas.evaluate(INKED)) > 500, 'the concession chart is drawn');
  const contract = page.locator('tr.contract');
  assert.is(await contract.count(), 1);
  assert.ok((await contract.textContent())!.includes(BUYER), 'the buyer is named once it signed');
  await page.goto(`${consoles.get(winner)!.origin}/#/`);
  await page.waitForSelector(`tr[data-sn="${signedSn}"]`, { timeout: 30_000 });
  assert.ok((await page.textContent('#win-rate'))!.includes('won'));
  assert.is(await page.locator(`tr[data-sn="${unsignedSn}"] td.outcome`).textContent().then((t) => t!.trim()), 'open', 'no contract yet in the second session');
  await page.close();
});

test('no answer carries another merchant, the buyer before signing, or the rules', async () => {
  const ids = [...world.stores.keys()];
  for (const [id, c] of consoles) {
    const others = ids.filter((o) => o !== id);
    for (const path of ['overview', 'contracts', `session?sn=${signedSn}`, `session?sn=${unsignedSn}`]) {
      const r = await rawGet(`${c.origin}/api/${path}`, { Authorization: `Bearer ${tokenOf(c)}` });
      assert.ok(r.status === 200 || (path.startsWith('session') && r.status === 404), `${id} ${path}: HTTP ${r.status}`);
      for (const o of others) assert.not.ok(r.body.includes(o), `${id} ${path}: nothing of ${o}`);
      assert.not.ok(/reservation|weights|"limits"|utility|"d2"|BEGIN PRIVATE KEY/i.test(r.body), `${id} ${path}: nothing of the buyer's rules or any key`);
      assert.not.ok(r.body.includes(tokenOf(c)), 'the token is in no body');
      const signedHere = id === winner && (path === 'contracts' || path === `session?sn=${signedSn}`);
      if (signedHere) assert.ok(r.body.includes(BUYER), `${id} ${path}: the buyer who signed is named`);
      else assert.not.ok(r.body.includes(BUYER), `${id} ${path}: the buyer is not named`);
    }
  }
});

test('an invitation arriving while the page is open shows without a reload', async () => {
  const loser = [...world.stores.keys()].find((id) => id !== winner && !world.stores.get(id)!.config.catalogue.some((e) => e.item === 'dock-usb-c'))!;
  const { page } = await open(loser);
  await page.waitForSelector(`tr[data-sn="${signedSn}"]`, { timeout: 30_000 });
  await page.evaluate('window.marker = 7');
  const { client } = await world.buyer(BUYER);
  const dock = (await negotiated(client, { request: { ...LAPTOPS, item: 'dock-usb-c', attributes: {}, quantity: 1 } })).session.sn;
  const row = page.locator(`tr[data-sn="${dock}"]`);
  await row.waitFor({ timeout: 30_000 });
  assert.ok((await row.textContent())!.includes('declined'), 'a request it cannot serve is listed as declined');
  assert.is(await page.evaluate('window.marker'), 7, 'no reload');
  await page.close();
});

test('token and Origin enforced; a store name with markup renders as text', async () => {
  const c = consoles.get(winner)!;
  assert.is((await rawGet(`${c.origin}/api/overview`, {})).status, 401);
  assert.is((await rawGet(`${c.origin}/api/overview`, { Authorization: 'Bearer not-the-token-not-the-token' })).status, 401);
  assert.is((await rawGet(`${c.origin}/api/overview`, { Authorization: `Bearer ${tokenOf(c)}`, Origin: 'http://evil.example' })).status, 403);
  const h = world.stores.get(winner)!;
  const evil = '<img src=x onerror=alert(1)></script><script>alert(2)</script>';
  const shown = await startMerchantConsole({ ...h.config, name: evil }, h.dataDir);
  try {
    const { page, dialogs } = await pageAt(browser, shown.url);
    await page.waitForSelector('#store-id', { timeout: 30_000 });
    assert.ok((await page.textContent('#store-id'))!.includes(evil));
    assert.is(await page.locator('main img').count(), 0);
    await page.waitForTimeout(300);
    assert.equal(dialogs, []);
    await page.close();
  } finally {
    await shown.close();
  }
});

test.run();
