/**
 * Reading a journal another process writes: each read returns only what was appended since,
 * a line still being written is left for later (and the file is not cut), and a rewritten
 * (shorter) file is read again from its start.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JournalTail } from '../../agents/storage/journal-tail.js';
import { Journal } from '../../agents/storage/journal.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('journal tail');

test('tails appends, leaves a half-written line alone, and starts over after a rewrite', async () => {
  const tmp = tempDir('parley-tail-');
  try {
    const path = join(tmp.path, 'journal.jsonl');
    const tail = new JournalTail(path);
    assert.equal(tail.read(), { records: [], reset: false }, 'no file yet');
    const { journal } = Journal.open(path);
    await journal.append({ k: 'a', v: 1 });
    await journal.append({ k: 'b', v: 2 });
    assert.equal(tail.read().records, [{ k: 'a', v: 1 }, { k: 'b', v: 2 }]);
    assert.equal(tail.read().records, [], 'nothing new');
    await journal.close();
    appendFileSync(path, '{"k":"c","v"');
    const before = readFileSync(path, 'utf8');
    assert.equal(tail.read().records, [], 'a line without its end is not read');
    assert.is(readFileSync(path, 'utf8'), before, 'and the file is left as it is');
    appendFileSync(path, ':3}\n');
    assert.equal(tail.read().records, [{ k: 'c', v: 3 }], 'read once complete');
    writeFileSync(path, '{"k":"z","v":9}\n');
    assert.equal(tail.read(), { records: [{ k: 'z', v: 9 }], reset: true });
  } finally {
    tmp.remove();
  }
});

test.run();
