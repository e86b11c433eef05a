/** Which catalogue entry serves a request, and the bids it yields for that request. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PurchaseRequest } from '../../protocol/commerce.js';
import { bidsFor, findOffer } from '../../store/catalogue.js';
import { parseStoreConfig } from '../../store/config.js';

const test = suite('catalogue');

const config = parseStoreConfig(
  {
    id: 'shop-a',
    home: 'home',
    name: 'Shop A',
    categories: ['laptops', 'accessories'],
    identity: { ca: 'ca.pem', cert: 'shop-a.pem', key: 'shop-a.key' },
    template: { title: 'Sale of goods', seller: { name: 'Shop A Ltd' }, clauses: [] },
    catalogue: [
      {
        item: 'laptop-pro-14',
        category: 'laptops',
        currency: 'EUR',
        stock: 50,
        attributes: { ram: '32GB', screen: '14in', touch: false, cores: 12 },
        listPrice: 1400,
        floorPrice: 1050,
        strategy: { kind: 'linear', bids: 8 },
        delivery: { from: 10, to: 3 },
        warranty: { from: 12, to: 24 },
      },
      {
        item: 'dock-usb-c',
        category: 'accessories',
        currency: 'EUR',
        stock: 5,
        attributes: {},
        bids: [
          { price: 199, deliveryDays: 5, warrantyMonths: 12 },
          { price: 179, deliveryDays: 3, warrantyMonths: 24 },
        ],
      },
    ],
  },
  '/etc/parley',
);
const laptop: PurchaseRequest = { item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', attributes: { ram: '32GB' } };
const dock: PurchaseRequest = { item: 'dock-usb-c', category: 'accessories', quantity: 5, currency: 'EUR', attributes: {} };
const found = (r: PurchaseRequest) => findOffer(config, r)?.item;

test('an entry serves a request for its item, category and currency within stock', () => {
  assert.is(found(laptop), 'laptop-pro-14');
  assert.is(found(dock), 'dock-usb-c', 'quantity = stock');
  assert.is(found({ ...laptop, attributes: {} }), 'laptop-pro-14', 'no attributes asked');
});

test('category, item, currency and stock must all fit', () => {
  assert.is(found({ ...dock, category: 'laptops' }), undefined, 'other category of the store');
  assert.is(found({ ...laptop, category: 'phones' }), undefined, 'category the store does not sell');
  assert.is(found({ ...laptop, item: 'laptop-pro-16' }), undefined, 'item');
  assert.is(found({ ...laptop, currency: 'USD' }), undefined, 'currency');
  assert.is(found({ ...dock, quantity: 6 }), undefined, 'stock');
  // the entry's category must also be one of the store's categories
  assert.is(findOffer({ categories: ['accessories'], catalogue: config.catalogue }, laptop), undefined, 'store categories');
});

test('requested attributes must be a subset with equal values', () => {
  assert.is(found({ ...laptop, attributes: { ram: '32GB', screen: '14in', touch: false, cores: 12 } }), 'laptop-pro-14', 'all');
  assert.is(found({ ...laptop, attributes: { ram: '16GB' } }), undefined, 'other value');
  assert.is(found({ ...laptop, attributes: { cores: '12' } }), undefined, 'same value, other type');
  assert.is(found({ ...laptop, attributes: { touch: true } }), undefined, 'boolean');
  assert.is(found({ ...laptop, attributes: { gpu: 'rtx' } }), undefined, 'attribute the entry lacks');
  assert.is(found({ ...laptop, attributes: { constructor: 'x' } }), undefined, 'inherited property is not an attribute');
});

test('bidsFor: a strategy list and an explicit list, with the request quantity', () => {
  const strategyBids = bidsFor(findOffer(config, laptop)!, laptop);
  assert.equal(strategyBids.map((b) => b.price), [1400, 1350, 1300, 1250, 1200, 1150, 1100, 1050]);
  assert.ok(strategyBids.every((b) => b.quantity === 2 && b.item === 'laptop-pro-14' && b.currency === 'EUR'));
  assert.equal(bidsFor(findOffer(config, dock)!, { ...dock, quantity: 3 }), [
    { item: 'dock-usb-c', quantity: 3, currency: 'EUR', price: 199, deliveryDays: 5, warrantyMonths: 12 },
    { item: 'dock-usb-c', quantity: 3, currency: 'EUR', price: 179, deliveryDays: 3, warrantyMonths: 24 },
  ]);
});

test.run();
