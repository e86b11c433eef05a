/**
 * The buyer's files (buyer-cli/state.ts): finding the exchange of a session with a merchant
 * reads only exchange files written since (an hour before) the session was created; and
 * session keys sealed at rest under the passphrase (buyer-cli/sealed-keys.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { BuyerFiles, type ExchangeFile, type SessionFile, type StoredKey } from '../../buyer-cli/state.js';
import { throwsCode } from '../helpers/assert.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('buyer files');
const tmp = tempDir('parley-buyer-files-');
test.after(() => tmp.remove());

const exchange = (contractId: string, sn: string, merchant: string): ExchangeFile => ({
  contractId,
  sn,
  merchant,
  state: 'offered',
  payload: 'e30',
  protected: 'e30',
  sg1: 'AA',
  completeBy: new Date().toISOString(),
  exchangeDeadline: new Date().toISOString(),
  updated: new Date().toISOString(),
});

test('exchangeWith finds the session exchange and does not read files from before the session', () => {
  const files = new BuyerFiles(tmp.path);
  files.saveExchange(exchange('C1', 's-old', 'shop-a'));
  files.saveExchange(exchange('C2', 's-new', 'shop-a'));
  files.saveExchange(exchange('C3', 's-new', 'shop-b'));
  const created = new Date();
  // C1 was last written two hours before the session (C2, its match, too: a clock set far back)
  const twoHoursBefore = new Date(created.getTime() - 2 * 3600_000);
  for (const id of ['C1', 'C2']) utimesSync(join(tmp.path, 'exchanges', `${id}.json`), twoHoursBefore, twoHoursBefore);
  assert.is(files.exchangeWith('s-new', 'shop-b', created)?.contractId, 'C3');
  assert.is(files.exchangeWith('s-old', 'shop-a', created), undefined, 'files older than the session are not read');
  assert.is(files.exchangeWith('s-new', 'shop-a', created), undefined);
  assert.is(files.exchangeWith('s-old', 'shop-a')?.contractId, 'C1', 'without a time, every file is read');
});

const key: StoredKey = { jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'secret-d' }, e1: 'AQ', d1: 'secret-d1', d2: 'secret-d2', d1p: 'x', d1q: 'y', qi: 'z' };
const session = (sn: string): SessionFile => ({ sn, home: 'home', request: { item: 'i', category: 'c', quantity: 1, currency: 'EUR', attributes: {} }, deadline: '', nonce: 'n', key, delegation: null, voucher: null, sgReq: null, created: '', homeCert: '' });
const pass = new TextEncoder().encode('correct horse battery staple');

test('with a passphrase the session key is sealed on disk and reads back the same', () => {
  const dir = join(tmp.path, 'sealed');
  const files = new BuyerFiles(dir, { passphrase: pass });
  const sn = 'a'.repeat(32);
  files.saveSession(session(sn));
  files.savePending('nonce-1', { nonce: 'nonce-1', key });
  for (const f of [join(dir, 'sessions', `${sn}.json`), join(dir, 'pending', 'nonce-1.json')]) {
    const text = readFileSync(f, 'utf8');
    assert.not.match(text, /secret-/, `${f} holds no key material in clear`);
    assert.is((JSON.parse(text) as { key: { sealed: number } }).key.sealed, 1);
  }
  assert.equal(files.session(sn).key, key);
  // another invocation, the same passphrase: the same key; a wrong one or none: refused
  assert.equal(new BuyerFiles(dir, { passphrase: pass }).session(sn).key, key);
  throwsCode(() => new BuyerFiles(dir, { passphrase: new TextEncoder().encode('wrong') }).session(sn), 'ERR_PASSPHRASE');
  throwsCode(() => new BuyerFiles(dir).session(sn), 'ERR_PASSPHRASE');
  // a sealed key moved into another session's file does not open there
  const other = 'b'.repeat(32);
  const moved = JSON.parse(readFileSync(join(dir, 'sessions', `${sn}.json`), 'utf8')) as SessionFile;
  writeFileSync(join(dir, 'sessions', `${other}.json`), JSON.stringify({ ...moved, sn: other }));
  throwsCode(() => files.session(other), 'ERR_DECRYPTION_FAILED');
});

test('a session file written in clear is sealed the first time it is read with a passphrase', () => {
  const dir = join(tmp.path, 'migrate');
  const sn = 'c'.repeat(32);
  new BuyerFiles(dir).saveSession(session(sn));
  const path = join(dir, 'sessions', `${sn}.json`);
  assert.match(readFileSync(path, 'utf8'), /secret-d2/, 'no passphrase: in clear (0600), as the identity key');
  assert.equal(new BuyerFiles(dir, { passphrase: pass }).session(sn).key, key);
  assert.not.match(readFileSync(path, 'utf8'), /secret-/, 'sealed on first use');
  assert.equal(new BuyerFiles(dir, { passphrase: pass }).session(sn).key, key);
});

test.run();
