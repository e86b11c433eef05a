/**
 * `parley ca` end to end: spawns the CLI (TypeScript via tsx) with a temp PARLEY_HOME and
 * checks the JSON it prints, the files it writes (modes, contents), exit codes, that
 * private keys never reach stdout or stderr, and that `openssl verify` accepts the result.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ed25519SeedFromPem, identityPublicKey } from '../../crypto/ed25519.js';
import { parseCertificate, verifyCertificate } from '../../crypto/x509/index.js';
import { tempDir } from '../helpers/paths.js';
import { parleySync, type Run } from '../helpers/cli.js';

const tmp = tempDir('parley-ca-cli-');
const home = join(tmp.path, 'home');
const dir = join(tmp.path, 'ca');

function parley(...args: string[]): Run {
  return parleySync(args, { PARLEY_HOME: home });
}

function json(r: Run): Record<string, unknown> & { error?: { code: string; message: string } } {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`stdout is not one JSON document:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** Asserts that no form of the private key in `keyPath` appears in the output. */
function assertNoKey(r: Run, keyPath: string): void {
  const pem = readFileSync(keyPath, 'utf8');
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const seed = Buffer.from(ed25519SeedFromPem(pem));
  const all = r.stdout + r.stderr;
  assert.not.ok(all.includes('PRIVATE KEY'), 'PEM armour printed');
  for (const form of [body, seed.toString('hex'), seed.toString('base64'), seed.toString('base64url')]) {
    assert.not.ok(all.includes(form), 'private key printed');
  }
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

function opensslVerify(ca: string, cert: string): number | null {
  return spawnSync('openssl', ['verify', '-CAfile', ca, cert], { encoding: 'utf8' }).status;
}

test.after(() => tmp.remove());

test('ca init --json: creates the CA files and reports them', () => {
  const r = parley('ca', 'init', '--dir', dir, '--id', 'test-ca', '--days', '100', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = json(r);
  assert.is(out.certificate, join(dir, 'ca.pem'));
  assert.is(out.key, join(dir, 'ca.key'));
  assert.is(out.id, 'test-ca');
  assert.is(out.role, 'ca');
  const cert = parseCertificate(readFileSync(join(dir, 'ca.pem')));
  assert.is(out.fingerprint, cert.fingerprint);
  assert.is(out.notAfter, cert.notAfter.toISOString());
  assert.ok(cert.isCa);
  assert.is(Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000), 100);
  assert.is(mode(join(dir, 'ca.key')), 0o600);
  assertNoKey(r, join(dir, 'ca.key'));
  assert.is(opensslVerify(join(dir, 'ca.pem'), join(dir, 'ca.pem')), 0);
});

test('ca init twice is refused (ERR_FILE_EXISTS) and leaves the CA alone; --force replaces it', () => {
  const before = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const r = parley('ca', 'init', '--dir', dir, '--json');
  assert.is(r.status, 1);
  assert.is(json(r).error?.code, 'ERR_FILE_EXISTS');
  const human = parley('ca', 'init', '--dir', dir);
  assert.is(human.status, 1);
  assert.match(human.stderr, /ERR_FILE_EXISTS/);
  assert.is(human.stdout, '');
  assert.is(readFileSync(join(dir, 'ca.pem'), 'utf8'), before);

  const other = join(tmp.path, 'forced');
  assert.is(parley('ca', 'init', '--dir', other, '--json').status, 0);
  const first = readFileSync(join(other, 'ca.pem'), 'utf8');
  const forced = parley('ca', 'init', '--dir', other, '--force', '--json');
  assert.is(forced.status, 0, forced.stderr);
  assert.is.not(readFileSync(join(other, 'ca.pem'), 'utf8'), first);
  assert.is(json(forced).fingerprint, parseCertificate(readFileSync(join(other, 'ca.pem'))).fingerprint);
});

test('ca issue --json: a merchant key (0600) and certificate that verify, by us and by openssl', () => {
  const r = parley('ca', 'issue', '--dir', dir, '--role', 'merchant', '--id', 'shop-1', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = json(r);
  const certPath = join(dir, 'issued', 'shop-1.pem');
  const keyPath = join(dir, 'issued', 'shop-1.key');
  assert.is(out.certificate, certPath);
  assert.is(out.key, keyPath);
  assert.is(out.role, 'merchant');
  assert.is(out.id, 'shop-1');
  assert.is(mode(keyPath), 0o600);
  assertNoKey(r, keyPath);
  const cert = verifyCertificate(readFileSync(certPath), readFileSync(join(dir, 'ca.pem')), { role: 'merchant', id: 'shop-1' });
  assert.is(out.fingerprint, cert.fingerprint);
  // the key file holds the certified key
  assert.equal(identityPublicKey(ed25519SeedFromPem(readFileSync(keyPath, 'utf8'))), cert.publicKey);
  assert.is(opensslVerify(join(dir, 'ca.pem'), certPath), 0);
  // the CA lives 100 days: the default 365-day lifetime is cut to end with it, an explicit one is refused
  assert.is(out.notAfter, parseCertificate(readFileSync(join(dir, 'ca.pem'))).notAfter.toISOString());
  const tooLong = parley('ca', 'issue', '--dir', dir, '--role', 'buyer', '--id', 'long', '--days', '365', '--json');
  assert.is(tooLong.status, 1);
  assert.is(json(tooLong).error?.code, 'ERR_INVALID_INPUT');

  // human output: paths and fingerprint, never the key
  const human = parley('ca', 'issue', '--dir', dir, '--role', 'buyer', '--id', 'alice', '--days', '30');
  assert.is(human.status, 0, human.stderr);
  assert.match(human.stdout, /alice/);
  assert.match(human.stdout, new RegExp(parseCertificate(readFileSync(join(dir, 'issued', 'alice.pem'))).fingerprint));
  assertNoKey(human, join(dir, 'issued', 'alice.key'));
});

test('ca issue: an existing id is refused unless --force; --out writes elsewhere', () => {
  const again = parley('ca', 'issue', '--dir', dir, '--role', 'merchant', '--id', 'shop-1', '--json');
  assert.is(again.status, 1);
  assert.is(json(again).error?.code, 'ERR_FILE_EXISTS');
  const before = readFileSync(join(dir, 'issued', 'shop-1.key'), 'utf8');
  const forced = parley('ca', 'issue', '--dir', dir, '--role', 'merchant', '--id', 'shop-1', '--force', '--json');
  assert.is(forced.status, 0, forced.stderr);
  assert.is.not(readFileSync(join(dir, 'issued', 'shop-1.key'), 'utf8'), before);

  const out = join(tmp.path, 'elsewhere');
  const r = parley('ca', 'issue', '--dir', dir, '--role', 'agent-home', '--id', 'ah', '--out', out, '--json');
  assert.is(r.status, 0, r.stderr);
  assert.is(json(r).certificate, join(out, 'ah.pem'));
  assert.is(mode(join(out, 'ah.key')), 0o600);
  assert.is(opensslVerify(join(dir, 'ca.pem'), join(out, 'ah.pem')), 0);
});

test('usage errors exit 2: bad role, missing role, bad id, bad days', () => {
  const badRole = parley('ca', 'issue', '--dir', dir, '--role', 'seller', '--id', 'x', '--json');
  assert.is(badRole.status, 2);
  assert.is(json(badRole).error?.code, 'ERR_USAGE');
  const caRole = parley('ca', 'issue', '--dir', dir, '--role', 'ca', '--id', 'x');
  assert.is(caRole.status, 2);
  assert.match(caRole.stderr, /ERR_USAGE/);
  const missing = parley('ca', 'issue', '--dir', dir, '--id', 'x', '--json');
  assert.is(missing.status, 2);
  assert.is(json(missing).error?.code, 'ERR_USAGE');
  assert.is(parley('ca', 'issue', '--dir', dir, '--role', 'buyer', '--id', 'Bad.Id').status, 2);
  assert.is(parley('ca', 'issue', '--dir', dir, '--role', 'buyer', '--id', 'b', '--days', 'ten').status, 2);
  assert.is(parley('ca', 'init', '--dir', join(tmp.path, 'x'), '--days', '0').status, 2);
  assert.is(parley('ca', 'issue', '--dir', join(tmp.path, 'no-ca'), '--role', 'buyer', '--id', 'b').status, 1);
});

test('ca show: prints the certificate; with --ca validates it and exits 3 when it does not validate', () => {
  const cert = join(dir, 'issued', 'shop-1.pem');
  const ca = join(dir, 'ca.pem');
  const plain = parley('ca', 'show', cert, '--json');
  assert.is(plain.status, 0, plain.stderr);
  assert.is(json(plain).id, 'shop-1');
  assert.is(json(plain).valid, undefined);
  const ok = parley('ca', 'show', cert, '--ca', ca, '--role', 'merchant', '--json');
  assert.is(ok.status, 0, ok.stderr);
  assert.is(json(ok).valid, true);
  const wrongRole = parley('ca', 'show', cert, '--ca', ca, '--role', 'buyer', '--json');
  assert.is(wrongRole.status, 3);
  assert.is(json(wrongRole).error?.code, 'ERR_CERT_ROLE');
  const otherCa = join(tmp.path, 'forced', 'ca.pem');
  const foreign = parley('ca', 'show', cert, '--ca', otherCa);
  assert.is(foreign.status, 3);
  assert.match(foreign.stderr, /ERR_CERT_CHAIN/);
  assert.is(parley('ca', 'show', cert, '--ca', ca, '--role', 'boss').status, 2);
  const missing = parley('ca', 'show', join(tmp.path, 'nope.pem'), '--json');
  assert.is(missing.status, 1);
  assert.is(json(missing).error?.code, 'ERR_FILE_NOT_FOUND');
});

test('default --dir is <PARLEY_HOME>/ca', () => {
  const r = parley('ca', 'init', '--json');
  assert.is(r.status, 0, r.stderr);
  assert.is(json(r).certificate, join(home, 'ca', 'ca.pem'));
  const i = parley('ca', 'issue', '--role', 'buyer', '--id', 'bob', '--json');
  assert.is(i.status, 0, i.stderr);
  assert.is(json(i).certificate, join(home, 'ca', 'issued', 'bob.pem'));
});

test.run();
