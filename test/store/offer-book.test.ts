/**
 * The store's offer book (store/offer-book.ts): offers and delivery records in one journal,
 * and a data directory from before it (a file per offer and per delivery) moved in at start.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OfferBook, type DispatchRecord, type OfferRecord } from '../../store/offer-book.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('offer book');
const tmp = tempDir('parley-offers-');
test.after(() => tmp.remove());

const sn = (i: number) => i.toString(16).padStart(32, '0');
// only the fields the book looks at matter here
const offer = (i: number) => ({ v: 1, sn: sn(i), home: 'home', bids: [{ price: 1000 + i }] }) as unknown as OfferRecord;
const sent: DispatchRecord = { state: 'delivered', at: '2026-11-21T00:00:00.000Z', detail: 'acknowledged' };

test('offers and delivery records survive reopening; an offer is made once per session', async () => {
  const dir = join(tmp.path, 'new');
  mkdirSync(dir);
  const book = await OfferBook.open(dir);
  assert.is(await book.createOffer(offer(1)), true);
  assert.is(await book.createOffer({ ...offer(1), home: 'other' }), false);
  await book.setDispatch(sn(1), sent);
  assert.is(await book.createOffer(offer(2)), true);
  await book.close();
  assert.is(statSync(join(dir, 'journal.jsonl')).mode & 0o777, 0o600, 'offers hold bids and K[k+1]');

  const again = await OfferBook.open(dir);
  assert.equal(again.sessions().sort(), [sn(1), sn(2)]);
  assert.equal(again.offer(sn(1)), offer(1));
  assert.equal(again.dispatch(sn(1)), sent);
  assert.is(again.dispatch(sn(2)), undefined, 'not delivered yet: sent again after a restart');
  await again.close();
});

test('per-session files from before the journal are moved into it', async () => {
  const dir = join(tmp.path, 'legacy');
  mkdirSync(dir);
  writeFileSync(join(dir, `${sn(1)}.json`), JSON.stringify(offer(1), null, 2) + '\n');
  writeFileSync(join(dir, `${sn(1)}.sent.json`), JSON.stringify(sent));
  writeFileSync(join(dir, `${sn(2)}.json`), JSON.stringify(offer(2)));
  // a delivery record lost half-written in a power failure (it was never fsynced)
  writeFileSync(join(dir, `${sn(2)}.sent.json`), '{"state":"deliv');
  writeFileSync(join(dir, 'notes.txt'), 'left alone');

  const book = await OfferBook.open(dir);
  assert.equal(book.sessions().sort(), [sn(1), sn(2)]);
  assert.equal(book.offer(sn(2)), offer(2));
  assert.equal(book.dispatch(sn(1)), sent);
  assert.is(book.dispatch(sn(2)), undefined, 'the damaged record counts as absent: the Sales Agent goes again');
  await book.close();
  assert.equal(readdirSync(dir).sort(), ['journal.jsonl', 'notes.txt']);

  const again = await OfferBook.open(dir);
  assert.equal(again.offer(sn(1)), offer(1));
  await again.close();
});

test.run();
