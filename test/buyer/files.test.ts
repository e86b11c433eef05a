/**
 * The buyer's files (buyer-cli/state.ts): finding the exchange of a session with a merchant
 * reads only exchange files written since (an hour before) the session was created.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { BuyerFiles, type ExchangeFile } from '../../buyer-cli/state.js';
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

test.run();
