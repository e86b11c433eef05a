/** The store config file: the documented example parses; every defect is ERR_CONFIG naming its path. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../helpers/assert.js';
import { DEFAULT_COMPLETE_TIMEOUT_MS, DEFAULT_OFFER_TTL_MS, loadStoreConfig, parseStoreConfig } from '../../store/config.js';

const test = suite('store-config');

const exampleConfig = () => ({
  id: 'shop-a',
  home: 'home',
  name: 'Shop A',
  categories: ['laptops'],
  identity: { ca: 'ca.pem', cert: 'shop-a.pem', key: 'shop-a.key' },
  nats: 'nats://127.0.0.1:4222',
  template: { title: 'Sale of goods', seller: { name: 'Shop A Ltd' }, clauses: ['...'] },
  completeTimeoutMs: 10000,
  offerTtlMs: 600000,
  catalogue: [
    {
      item: 'laptop-pro-14',
      category: 'laptops',
      currency: 'EUR',
      stock: 50,
      attributes: { ram: '32GB', screen: '14in' },
      listPrice: 1400,
      floorPrice: 1050,
      strategy: { kind: 'boulware', bids: 8, beta: 0.3 },
      delivery: { from: 10, to: 3 },
      warranty: { from: 12, to: 24 },
    } as Record<string, unknown>,
    {
      item: 'dock-usb-c',
      category: 'laptops',
      currency: 'EUR',
      stock: 5,
      attributes: {},
      bids: [
        { price: 199, deliveryDays: 5, warrantyMonths: 12 },
        { price: 179, deliveryDays: 3, warrantyMonths: 24 },
      ],
    } as Record<string, unknown>,
  ],
});

test('the documented example parses, with identity paths resolved against the base folder', () => {
  const c = parseStoreConfig(exampleConfig(), '/etc/parley');
  assert.equal(c.identity, { ca: '/etc/parley/ca.pem', cert: '/etc/parley/shop-a.pem', key: '/etc/parley/shop-a.key' });
  assert.is(c.id, 'shop-a');
  assert.is(c.nats, 'nats://127.0.0.1:4222');
  assert.is(c.catalogue.length, 2);
  const [laptop, dock] = c.catalogue;
  assert.is(laptop?.strategy?.kind, 'boulware');
  assert.is(laptop?.bids, undefined);
  assert.equal(dock?.bids?.map((b) => b.price), [199, 179]);
  assert.is(dock?.strategy, undefined);
});

test('absolute identity paths stay; a relative base folder is made absolute; nats and timeouts are optional', () => {
  const v = exampleConfig();
  v.identity.ca = '/srv/ca.pem';
  const { nats: _n, completeTimeoutMs: _c, offerTtlMs: _o, ...rest } = v;
  const c = parseStoreConfig(rest, 'conf');
  assert.is(c.identity.ca, '/srv/ca.pem');
  assert.is(c.identity.cert, resolve('conf', 'shop-a.pem'));
  assert.is(c.nats, undefined);
  assert.is(c.completeTimeoutMs, DEFAULT_COMPLETE_TIMEOUT_MS);
  assert.is(c.offerTtlMs, DEFAULT_OFFER_TTL_MS);
});

/** Each defect: a change to the example and the path its message must start with. */
const defects: Array<[string, (c: ReturnType<typeof exampleConfig>) => unknown, string]> = [
  ['boulware β ≥ 1', (c) => ((c.catalogue[0]!.strategy = { kind: 'boulware', bids: 8, beta: 1.5 }), c), 'catalogue[0].strategy.beta:'],
  ['conceder β ≤ 1', (c) => ((c.catalogue[0]!.strategy = { kind: 'conceder', bids: 8, beta: 0.5 }), c), 'catalogue[0].strategy.beta:'],
  ['unknown strategy kind', (c) => ((c.catalogue[0]!.strategy = { kind: 'tit-for-tat', bids: 8 }), c), 'catalogue[0].strategy.kind:'],
  ['k = 0', (c) => ((c.catalogue[0]!.strategy = { kind: 'linear', bids: 0 }), c), 'catalogue[0].strategy.bids:'],
  ['k = 1001', (c) => ((c.catalogue[0]!.strategy = { kind: 'linear', bids: 1001 }), c), 'catalogue[0].strategy.bids:'],
  ['floor ≥ list', (c) => ((c.catalogue[0]!.floorPrice = 1400), c), 'catalogue[0].floorPrice:'],
  ['floor ≤ 0', (c) => ((c.catalogue[0]!.floorPrice = 0), c), 'catalogue[0].floorPrice:'],
  ['delivery gets slower', (c) => ((c.catalogue[0]!.delivery = { from: 3, to: 10 }), c), 'catalogue[0].delivery:'],
  ['strategy without listPrice', (c) => (delete c.catalogue[0]!.listPrice, c), 'catalogue[0].listPrice:'],
  ['strategy without warranty', (c) => (delete c.catalogue[0]!.warranty, c), 'catalogue[0].warranty:'],
  ['both strategy and bids', (c) => ((c.catalogue[1]!.strategy = { kind: 'linear', bids: 2 }), c), 'catalogue[1].bids:'],
  ['neither strategy nor bids', (c) => (delete c.catalogue[1]!.bids, c), 'catalogue[1]:'],
  ['bids with a listPrice', (c) => ((c.catalogue[1]!.listPrice = 199), c), 'catalogue[1].listPrice:'],
  ['explicit price rises', (c) => ((c.catalogue[1]!.bids = [{ price: 179, deliveryDays: 5, warrantyMonths: 12 }, { price: 199, deliveryDays: 3, warrantyMonths: 24 }]), c), 'catalogue[1].bids[1].price:'],
  ['explicit bid with an extra field', (c) => ((c.catalogue[1]!.bids = [{ price: 199, deliveryDays: 5, warrantyMonths: 12, item: 'x' }]), c), 'catalogue[1].bids[0]:'],
  ['empty explicit list', (c) => ((c.catalogue[1]!.bids = []), c), 'catalogue[1].bids:'],
  ['category not in categories', (c) => ((c.catalogue[1]!.category = 'phones'), c), 'catalogue[1].category:'],
  ['item not a lowercase token', (c) => ((c.catalogue[0]!.item = 'Laptop Pro'), c), 'catalogue[0].item:'],
  ['same item and currency twice', (c) => ((c.catalogue[1]!.item = 'laptop-pro-14'), c), 'catalogue[1].item:'],
  ['currency not ISO 4217', (c) => ((c.catalogue[0]!.currency = 'euro'), c), 'catalogue[0].currency:'],
  ['negative stock', (c) => ((c.catalogue[0]!.stock = -1), c), 'catalogue[0].stock:'],
  ['unknown entry field', (c) => ((c.catalogue[0]!.colour = 'red'), c), 'catalogue[0]:'],
  ['id not a lowercase token', (c) => ((c.id = 'Shop A'), c), 'id:'],
  ['no categories', (c) => ((c.categories = []), c), 'categories:'],
  ['category listed twice', (c) => ((c.categories = ['laptops', 'laptops']), c), 'categories[1]:'],
  ['identity without key', (c) => ({ ...c, identity: { ca: 'ca.pem', cert: 'shop-a.pem' } }), 'identity.key:'],
  ['template without title', (c) => ({ ...c, template: { seller: { name: 'Shop A Ltd' }, clauses: [] } }), 'template.title:'],
  ['nats not a string', (c) => ({ ...c, nats: 4222 }), 'nats:'],
  ['completeTimeoutMs 0', (c) => ({ ...c, completeTimeoutMs: 0 }), 'completeTimeoutMs:'],
  ['empty catalogue', (c) => ({ ...c, catalogue: [] }), 'catalogue:'],
  ['unknown top-level field', (c) => ({ ...c, extra: 1 }), '(root):'],
];

test('every defect is ERR_CONFIG with the path of the defect in the message', () => {
  for (const [name, change, path] of defects) {
    const value = change(exampleConfig());
    throwsCode(() => parseStoreConfig(value, '/etc/parley'), 'ERR_CONFIG', name);
    try {
      parseStoreConfig(value, '/etc/parley');
    } catch (e) {
      assert.ok((e as Error).message.startsWith(path), `${name}: message "${(e as Error).message}" should start with ${path}`);
    }
  }
  throwsCode(() => parseStoreConfig('{}', '/'), 'ERR_CONFIG', 'a string');
  throwsCode(() => parseStoreConfig(null, '/'), 'ERR_CONFIG', 'null');
});

test('loadStoreConfig reads a file and resolves identity paths against its folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-store-config-'));
  try {
    const file = join(dir, 'store.json');
    writeFileSync(file, JSON.stringify(exampleConfig()));
    assert.is(loadStoreConfig(file).identity.key, join(dir, 'shop-a.key'));
    throwsCode(() => loadStoreConfig(join(dir, 'missing.json')), 'ERR_CONFIG', 'missing file');
    writeFileSync(file, '{"id": "shop-a",');
    throwsCode(() => loadStoreConfig(file), 'ERR_CONFIG', 'not JSON');
    const bad = exampleConfig();
    bad.catalogue[0]!.strategy = { kind: 'conceder', bids: 8, beta: 0.2 };
    writeFileSync(file, JSON.stringify(bad));
    throwsCode(() => loadStoreConfig(file), 'ERR_CONFIG', 'invalid content');
    try {
      loadStoreConfig(file);
    } catch (e) {
      // file:line:column of the defect, then its path
      assert.is((e as Error).message.startsWith(`${file}:1:`), true, (e as Error).message);
      assert.match((e as Error).message, /^[^ ]+:1:\d+: catalogue\[0\]\.strategy\.beta: /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
