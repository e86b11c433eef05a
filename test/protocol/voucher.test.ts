/** The voucher: signed by the Agent Home; any changed bit or field is ERR_VOUCHER_INVALID. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode, flipBit } from '../helpers/assert.js';
import { generateIdentityKey } from '../../crypto/ed25519.js';
import { bigintToB64u, fromB64u, toB64u } from '../../crypto/bytes.js';
import { issueVoucher, openVoucher } from '../../protocol/voucher.js';

const test = suite('voucher');
const home = generateIdentityKey();
const values = {
  sn: 'ab'.repeat(16),
  home: 'home',
  n: (1n << 2047n) + 12345n,
  e: 65537n,
  e1: 18446744073709551557n,
  deadline: new Date('2030-01-01T00:00:00.000Z'),
  signBy: new Date('2030-01-02T00:00:00.000Z'),
};

test('a voucher round-trips with the Agent Home key', () => {
  const v = issueVoucher(values, home.secretKey);
  assert.equal(openVoucher(v, home.publicKey), values);
});

test('a flipped bit, a changed field or another signer is ERR_VOUCHER_INVALID', () => {
  const v = issueVoucher(values, home.secretKey);
  throwsCode(() => openVoucher({ ...v, sig: toB64u(flipBit(fromB64u(v.sig), 3)) }, home.publicKey), 'ERR_VOUCHER_INVALID', 'signature bit');
  throwsCode(() => openVoucher({ ...v, body: { ...v.body, e1: bigintToB64u(values.e1 + 2n) } }, home.publicKey), 'ERR_VOUCHER_INVALID', 'e1');
  throwsCode(() => openVoucher({ ...v, body: { ...v.body, n: bigintToB64u(values.n ^ 1n) } }, home.publicKey), 'ERR_VOUCHER_INVALID', 'n bit');
  throwsCode(() => openVoucher({ ...v, body: { ...v.body, sn: 'cd'.repeat(16) } }, home.publicKey), 'ERR_VOUCHER_INVALID', 'session');
  throwsCode(() => openVoucher(v, generateIdentityKey().publicKey), 'ERR_VOUCHER_INVALID', 'other Agent Home');
  throwsCode(() => openVoucher({ ...v, type: 'request' }, home.publicKey), 'ERR_VOUCHER_INVALID', 'relabelled');
});

test.run();
