/**
 * The arbiter console in a real browser on a real nats-server secured by `parley home init`,
 * connected as the read-only `console` party: what the pages show is compared with the
 * JetStream records; live updates arrive without a reload; the token, Host and Origin rules
 * and the CSP hold; wire strings render as text; the console party cannot write.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import type { NatsConnection } from 'nats';
import { eventually, negotiated, worldSuite } from '../helpers/world.js';
import { launchBrowser, pageAt, rawGet } from '../helpers/browser.js';
import { startArbiterConsole } from '../../agent-home/console-command.js';
import type { RunningConsole } from '../../agents/console/server.js';
import type { NegotiationRecord } from '../../agent-home/state.js';

const test = suite('arbiter console');
const world = worldSuite(test, { broker: { buyers: ['alice'] } });
let browser: Browser;
let cons: RunningConsole;
let consoleNc: NatsConnection;
let sn: string;
/** non-transparent pixels of a canvas (run in the page; the test build has no DOM types) */
const INKED = new Function('c', "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;") as (c: unknown) => number;
const token = () => new URL(cons.url).searchParams.get('token')!;

test.before(async () => {
  consoleNc = await world.broker!.connect('console', 'parley-console');
  cons = await startArbiterConsole(consoleNc, { homeId: 'home', publicKey: world.homeSelf.publicKey });
  browser = await launchBrowser();
  const { client } = await world.buyer('alice');
  sn = (await negotiated(client)).session.sn;
});
test.after(async () => {
  await browser?.close();
  await cons?.close();
  await consoleNc?.close();
});

const openPage = () => pageAt(browser, cons.url);

test('the sessions page lists the session; the session page shows what JetStream holds', async () => {
  const { page } = await openPage();
  assert.not.ok(page.url().includes('token='), 'the token leaves the address bar');
  await page.waitForSelector(`tr[data-sn="${sn}"]`, { timeout: 30_000 });
  await page.goto(`${cons.origin}/#/session/${sn}`);
  await page.waitForSelector('#sn', { timeout: 30_000 });
  const rec = (await world.home.state.session(sn))!;
  const negotiations: NegotiationRecord[] = [];
  for (const m of Object.keys(rec.negotiated).sort()) negotiations.push((await world.home.state.negotiation(sn, m))!);
  assert.ok(negotiations.length >= 2, 'several merchants bid');
  for (const n of negotiations) {
    const rows = page.locator(`.negotiation[data-merchant="${n.merchant}"] tr.bid`);
    assert.is(await rows.count(), n.rounds.length, `${n.merchant}: every revealed bid`);
    for (let i = 0; i < n.rounds.length; i++) {
      const r = n.rounds[i]!;
      const verdict = r.accept ? 'accepted' : r.reason === 'limit' ? 'out of limits' : 'rejected';
      assert.is((await rows.nth(i).locator('td.verdict').textContent())?.trim(), verdict);
      assert.ok((await rows.nth(i).textContent())!.includes(String(r.bid.price)));
      assert.ok((await rows.nth(i).textContent())!.includes('hash ok'));
    }
  }
  assert.is(await page.locator('tr.visit').count(), rec.visits.length);
  assert.is(await page.locator('tr.agreement').count(), rec.agreed.length);
  const body = (await page.textContent('body'))!;
  assert.not.ok(/utility|reservation/i.test(body), 'no buyer utility on the arbiter page');
  // the chart: a uPlot canvas with drawn pixels, one series per merchant that bid (+ the agreement marks)
  const canvas = page.locator('#chart canvas');
  await canvas.waitFor({ timeout: 10_000 });
  const inked = await canvas.evaluate(INKED);
  assert.ok(inked > 500, `chart has ink (${inked} pixels)`);
  const legend = await page.locator('#chart .u-legend .u-series').allTextContents();
  const merchantSeries = legend.filter((t) => negotiations.some((n) => t.includes(n.merchant)));
  assert.is(merchantSeries.length, negotiations.filter((n) => n.rounds.length).length);
  await page.close();
});

test('a bid written to JetStream appears on the open session page without a reload', async () => {
  const { page } = await openPage();
  await page.goto(`${cons.origin}/#/session/${sn}`);
  await page.waitForSelector('#sn', { timeout: 30_000 });
  const rec = (await world.home.state.session(sn))!;
  const m = Object.keys(rec.negotiated).sort()[0]!;
  const n = (await world.home.state.negotiation(sn, m))!;
  const before = n.rounds.length;
  await page.evaluate('window.marker = 42');
  const last = n.rounds[n.rounds.length - 1]!;
  await world.home.state.put(world.home.state.negotiations, `${sn}.${m}`, { ...n, rounds: [...n.rounds, { ...last, index: last.index + 1, bid: { ...last.bid, price: 777.77 } }] });
  const rows = page.locator(`.negotiation[data-merchant="${m}"] tr.bid`);
  await eventually('the new bid row', async () => ((await rows.count()) === before + 1 ? true : undefined), 20_000);
  assert.ok((await rows.nth(before).textContent())!.includes('777.77'));
  assert.is(await page.evaluate('window.marker'), 42, 'no reload');
  await world.home.state.put(world.home.state.negotiations, `${sn}.${m}`, n);
  await page.close();
});

test('a new session shows up on the sessions page without a reload', async () => {
  const { page } = await openPage();
  await page.waitForSelector(`tr[data-sn="${sn}"]`, { timeout: 30_000 });
  const { client } = await world.buyer('alice');
  const second = (await negotiated(client)).session.sn;
  await page.waitForSelector(`tr[data-sn="${second}"]`, { timeout: 30_000 });
  await page.close();
});

test('token, Host and Origin are enforced; CSP on every answer; the token is in no body', async () => {
  const api = `${cons.origin}/api/sessions`;
  const none = await rawGet(api, {});
  assert.is(none.status, 401);
  assert.not.ok(none.body.includes(sn));
  const wrong = await rawGet(api, { Authorization: 'Bearer wrong-token-wrong-token-wrong' });
  assert.is(wrong.status, 401);
  assert.is((await rawGet(`${cons.origin}/?token=AAAAAAAAAAAAAAAAAAAAAA`, {})).status, 401);
  const ok = await rawGet(api, { Authorization: `Bearer ${token()}` });
  assert.is(ok.status, 200);
  assert.ok(ok.body.includes(sn));
  assert.match(String(ok.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  const cookie = await rawGet(api, { Cookie: `parley_console=${token()}` });
  assert.is(cookie.status, 200);
  const foreignOrigin = await rawGet(api, { Authorization: `Bearer ${token()}`, Origin: 'http://evil.example' });
  assert.is(foreignOrigin.status, 403);
  const rebinding = await rawGet(api.replace('127.0.0.1', 'localhost'), { Authorization: `Bearer ${token()}`, Host: `evil.example:${cons.port}` });
  assert.is(rebinding.status, 403);
  const login = await rawGet(cons.url, {});
  assert.is(login.status, 303);
  assert.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  assert.not.ok(String(login.headers.location).includes(token()));
  for (const path of ['/', '/static/arbiter.js', '/api/sessions', `/api/session?sn=${sn}`, '/api/audit', '/api/directory']) {
    const r = await rawGet(`${cons.origin}${path}`, { Authorization: `Bearer ${token()}` });
    assert.is(r.status, 200, path);
    assert.ok(r.headers['content-security-policy'], `${path}: CSP`);
    assert.not.ok(r.body.includes(token()), `${path}: no token in the body`);
    assert.not.ok(/"d2"|"rules"|"nrule"|BEGIN PRIVATE KEY/i.test(r.body), `${path}: no secret`);
  }
  const post = await fetch(api, { method: 'POST', headers: { Authorization: `Bearer ${token()}` } });
  assert.is(post.status, 405);
});

test('merchant names and categories from the wire render as text; no script runs', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  await world.home.state.register({ id: 'evil-shop', name: evil, categories: ['laptops</script><script>alert(2)</script>'], cert: 'x', registeredAt: new Date().toISOString() });
  const { page, dialogs } = await openPage();
  await page.goto(`${cons.origin}/#/directory`);
  await page.waitForSelector('tr.merchant', { timeout: 30_000 });
  await eventually('the evil merchant listed', async () => ((await page.textContent('main'))!.includes(evil) ? true : undefined), 20_000);
  assert.is(await page.locator('main img').count(), 0, 'no img element was created');
  assert.ok((await page.textContent('main'))!.includes('</script>'));
  await page.waitForTimeout(500);
  assert.equal(dialogs, []);
  await page.close();
});

test('the console party can read but not write JetStream', async () => {
  const kv = await consoleNc.jetstream().views.kv('parley_sessions', { bindOnly: true });
  let refused = false;
  try {
    await kv.put('forged', new TextEncoder().encode('{}'), { timeout: 3000 } as never);
  } catch {
    refused = true;
  }
  assert.ok(refused, 'a KV write by the console party fails');
  assert.is(await world.home.state.session('forged'), undefined);
});

test.run();
