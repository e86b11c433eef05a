/**
 * Passphrase-encrypted key files (crypto/key-file.ts) and the Agent Home's encrypted
 * secrets file: round trip, the recorded parameters checked against node:crypto's own
 * scrypt, every wrong passphrase or changed byte refused with its code, malformed files
 * refused before any key derivation, plain PKCS#8 files still read, and modes 0600.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { scryptSync } from 'node:crypto';
import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { canonicalBytes } from '../../crypto/canonical.js';
import { concatBytes, fromB64u, toB64u, utf8 } from '../../crypto/bytes.js';
import { ed25519PrivateKeyPem, ed25519SeedFromPem, generateIdentityKey } from '../../crypto/ed25519.js';
import {
  ENCRYPTED_KEY_LABEL,
  SCRYPT_PARAMS,
  decryptKeyFile,
  encryptKeyFile,
  isEncryptedKeyFile,
  keyFileText,
  readPassphraseFile,
  readPrivateKeyFile,
} from '../../crypto/key-file.js';
import { loadOrCreateSecrets, SECRETS_CONTENT } from '../../agent-home/secrets.js';
import { initCaDir, issueToDir, loadCaDir } from '../../ca/store.js';
import { throwsCode, rejectsCode } from '../helpers/assert.js';
import { tempDir } from '../helpers/paths.js';

const tmp = tempDir('parley-key-file-');
test.after(() => tmp.remove());

const PASS = 'correct horse battery staple';
const key = generateIdentityKey();
const pem = ed25519PrivateKeyPem(key.secretKey);
// one encryption shared by the tests (each scrypt costs ~0.1 s)
const sealed = keyFileText(pem, PASS);

type Envelope = { v: number; content: string; kdf: { name: string; N: number; r: number; p: number; salt: string }; aead: string; nonce: string; ct: string };

function unarmour(text: string): Envelope {
  const body = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Envelope;
}

function armour(env: unknown): string {
  const b64 = Buffer.from(JSON.stringify(env)).toString('base64');
  return `-----BEGIN ${ENCRYPTED_KEY_LABEL}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${ENCRYPTED_KEY_LABEL}-----\n`;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

test('round trip; the file records scrypt N = 2^15, r = 8, p = 1, a 16-byte salt and a 24-byte nonce', () => {
  assert.ok(sealed.startsWith(`-----BEGIN ${ENCRYPTED_KEY_LABEL}-----\n`));
  assert.ok(sealed.split('\n').every((l) => l.length <= 64), 'armour lines of at most 64 columns');
  assert.not.ok(sealed.includes('PRIVATE KEY'));
  assert.ok(isEncryptedKeyFile(sealed));
  assert.not.ok(isEncryptedKeyFile(pem));
  const env = unarmour(sealed);
  assert.equal(Object.keys(env).sort(), ['aead', 'content', 'ct', 'kdf', 'nonce', 'v']);
  assert.equal({ v: env.v, content: env.content, aead: env.aead, name: env.kdf.name, N: env.kdf.N, r: env.kdf.r, p: env.kdf.p }, { v: 1, content: 'pkcs8-pem', aead: 'xchacha20-poly1305', name: 'scrypt', N: 32768, r: 8, p: 1 });
  assert.equal(SCRYPT_PARAMS, { N: 2 ** 15, r: 8, p: 1 });
  assert.is(fromB64u(env.kdf.salt).length, 16);
  assert.is(fromB64u(env.nonce).length, 24);
  assert.is(fromB64u(env.ct).length, utf8(pem).length + 16);
  assert.is(new TextDecoder().decode(decryptKeyFile(sealed, PASS)), pem);
  // fresh salt and nonce every time
  const again = unarmour(keyFileText(pem, PASS));
  assert.is.not(again.kdf.salt, env.kdf.salt);
  assert.is.not(again.nonce, env.nonce);
});

test('independent check: node:crypto scrypt and the documented AAD open the ciphertext', () => {
  const env = unarmour(sealed);
  const k = scryptSync(PASS, fromB64u(env.kdf.salt), 32, { N: env.kdf.N, r: env.kdf.r, p: env.kdf.p, maxmem: 64 * 1024 * 1024 });
  const aad = concatBytes(utf8('parley/v1/key-file'), new Uint8Array([0]), canonicalBytes({ v: env.v, content: env.content, kdf: env.kdf, aead: env.aead, nonce: env.nonce }));
  const plain = xchacha20poly1305(new Uint8Array(k), fromB64u(env.nonce), aad).decrypt(fromB64u(env.ct));
  assert.is(new TextDecoder().decode(plain), pem);
});

test('a wrong, missing or empty passphrase is ERR_PASSPHRASE', () => {
  throwsCode(() => decryptKeyFile(sealed, 'correct horse battery stapler'), 'ERR_PASSPHRASE', 'wrong passphrase');
  throwsCode(() => decryptKeyFile(sealed, undefined), 'ERR_PASSPHRASE', 'no passphrase');
  throwsCode(() => decryptKeyFile(sealed, ''), 'ERR_PASSPHRASE', 'empty passphrase');
  throwsCode(() => encryptKeyFile(utf8(pem), new Uint8Array(0)), 'ERR_PASSPHRASE', 'empty passphrase on encryption');
});

test('text passphrases are NFC-normalised: composed and decomposed forms open the same file', () => {
  const text = keyFileText(pem, 'caf\u00e9');
  assert.is(new TextDecoder().decode(decryptKeyFile(text, 'cafe\u0301')), pem);
});

test('a changed byte of the ciphertext, tag, salt, nonce or parameters is ERR_PASSPHRASE', () => {
  const env = unarmour(sealed);
  const flip = (b64: string, i: number) => {
    const b = fromB64u(b64);
    b[i < 0 ? b.length + i : i]! ^= 0x01;
    return toB64u(b);
  };
  const variants: Array<[string, Envelope]> = [
    ['ciphertext', { ...env, ct: flip(env.ct, 0) }],
    ['tag', { ...env, ct: flip(env.ct, -1) }],
    ['salt', { ...env, kdf: { ...env.kdf, salt: flip(env.kdf.salt, 3) } }],
    ['nonce', { ...env, nonce: flip(env.nonce, 23) }],
    ['scrypt parameters', { ...env, kdf: { ...env.kdf, N: 2 ** 14 } }],
  ];
  for (const [what, v] of variants) throwsCode(() => decryptKeyFile(armour(v), PASS), 'ERR_PASSPHRASE', what);
  // any changed character of the file itself: refused, as malformed or as unauthentic
  const lines = sealed.split('\n');
  for (const [line, col] of [[1, 40], [lines.length - 3, 5]] as const) {
    const l = lines[line]!;
    const c = l[col] === 'A' ? 'B' : 'A';
    const changed = [...lines.slice(0, line), l.slice(0, col) + c + l.slice(col + 1), ...lines.slice(line + 1)].join('\n');
    try {
      decryptKeyFile(changed, PASS);
      assert.unreachable(`changed character at ${line}:${col} accepted`);
    } catch (e) {
      assert.ok(['ERR_PASSPHRASE', 'ERR_KEY_FILE'].includes((e as { code: string }).code), `${line}:${col}: ${(e as Error).message}`);
    }
  }
});

test('malformed envelopes are ERR_KEY_FILE, refused before any key derivation', () => {
  const env = unarmour(sealed);
  const cases: Array<[string, string]> = [
    ['no armour', Buffer.from(JSON.stringify(env)).toString('base64')],
    ['truncated', sealed.slice(0, sealed.length - 40)],
    ['not base64', sealed.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!')],
    ['not JSON', armour('x').replace(/\n[^\n]+\n-----END/, '\neyJ2IjoxLA==\n-----END')],
    ['extra field', armour({ ...env, extra: 1 })],
    ['missing field', armour({ ...env, ct: undefined })],
    ['version 2', armour({ ...env, v: 2 })],
    ['other cipher', armour({ ...env, aead: 'aes-256-gcm' })],
    ['other KDF', armour({ ...env, kdf: { ...env.kdf, name: 'pbkdf2' } })],
    ['N not a power of two', armour({ ...env, kdf: { ...env.kdf, N: 30000 } })],
    ['N too large (memory bomb)', armour({ ...env, kdf: { ...env.kdf, N: 2 ** 30 } })],
    ['N too small', armour({ ...env, kdf: { ...env.kdf, N: 2 ** 10 } })],
    ['p too large', armour({ ...env, kdf: { ...env.kdf, p: 1000 } })],
    ['r as a string', armour({ ...env, kdf: { ...env.kdf, r: '8' } })],
    ['short nonce', armour({ ...env, nonce: toB64u(new Uint8Array(12)) })],
    ['short salt', armour({ ...env, kdf: { ...env.kdf, salt: toB64u(new Uint8Array(4)) } })],
    ['padded base64url', armour({ ...env, ct: env.ct + '=' })],
    ['truncated ciphertext', armour({ ...env, ct: toB64u(new Uint8Array(8)) })],
    ['another content', armour({ ...env, content: SECRETS_CONTENT })],
  ];
  const t0 = Date.now();
  for (const [what, text] of cases) throwsCode(() => decryptKeyFile(text, PASS), 'ERR_KEY_FILE', what);
  assert.ok(Date.now() - t0 < 1000, `malformed files are refused without scrypt (${Date.now() - t0} ms)`);
});

function write(name: string, text: string, m = 0o600): string {
  const p = join(tmp.path, name);
  writeFileSync(p, text, { mode: m });
  return p;
}

test('readPrivateKeyFile: plain PKCS#8 keeps working; encrypted files decrypt to the same PEM; errors are coded', () => {
  const plain = write('plain.key', pem);
  assert.is(readPrivateKeyFile(plain), pem);
  assert.is(readPrivateKeyFile(plain, PASS), pem, 'a passphrase does not hurt a plain file');
  const enc = write('enc.key', sealed);
  const decrypted = readPrivateKeyFile(enc, PASS);
  assert.is(decrypted, pem);
  assert.equal(ed25519SeedFromPem(decrypted), key.secretKey);
  throwsCode(() => readPrivateKeyFile(enc), 'ERR_PASSPHRASE', 'encrypted without a passphrase');
  throwsCode(() => readPrivateKeyFile(join(tmp.path, 'absent.key')), 'ERR_FILE_NOT_FOUND');
  throwsCode(() => readPrivateKeyFile(write('big.key', 'x'.repeat(70_000))), 'ERR_KEY_FILE', 'oversize file');
  const secretsLike = write('secrets-like.key', armour({ ...unarmour(sealed), content: SECRETS_CONTENT }));
  throwsCode(() => readPrivateKeyFile(secretsLike, PASS), 'ERR_KEY_FILE', 'an encrypted secrets file is not a key file');
});

test('readPassphraseFile: one trailing newline (LF or CRLF) is dropped; empty files are ERR_PASSPHRASE', () => {
  const bytes = (s: string) => new TextDecoder().decode(readPassphraseFile(write(`p${s.length}-${Buffer.from(s).toString('hex')}`, s)));
  assert.is(bytes('secret\n'), 'secret');
  assert.is(bytes('secret\r\n'), 'secret');
  assert.is(bytes('secret'), 'secret');
  assert.is(bytes('secret\n\n'), 'secret\n');
  assert.is(bytes(' two words \n'), ' two words ');
  throwsCode(() => readPassphraseFile(write('empty', '')), 'ERR_PASSPHRASE');
  throwsCode(() => readPassphraseFile(write('newline', '\n')), 'ERR_PASSPHRASE');
  throwsCode(() => readPassphraseFile(join(tmp.path, 'absent')), 'ERR_FILE_NOT_FOUND');
});

test('the Agent Home secrets file: encrypted under a passphrase (never plaintext JSON), 0600, loaded back', () => {
  const path = join(tmp.path, 'secrets.json');
  const s = loadOrCreateSecrets(path, PASS);
  const text = readFileSync(path, 'utf8');
  assert.is(mode(path), 0o600);
  assert.ok(isEncryptedKeyFile(text));
  assert.throws(() => JSON.parse(text), 'not JSON');
  for (const secret of [s.masterKey, s.encryption.secretKey]) {
    for (const form of [toB64u(secret), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) assert.not.ok(text.includes(form), 'a secret in clear');
  }
  assert.is(unarmour(text).content, SECRETS_CONTENT);
  const again = loadOrCreateSecrets(path, PASS);
  assert.equal(again.masterKey, s.masterKey);
  assert.equal(again.encryption.publicKey, s.encryption.publicKey);
  throwsCode(() => loadOrCreateSecrets(path), 'ERR_PASSPHRASE', 'no passphrase');
  throwsCode(() => loadOrCreateSecrets(path, 'wrong'), 'ERR_PASSPHRASE', 'wrong passphrase');
  writeFileSync(path, text.replace(/\n([A-Za-z0-9+/])/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`));
  try {
    loadOrCreateSecrets(path, PASS);
    assert.unreachable('a changed secrets file was accepted');
  } catch (e) {
    assert.ok(['ERR_PASSPHRASE', 'ERR_CONFIG'].includes((e as { code: string }).code), (e as Error).message);
  }
});

test('a plain secrets file found while a passphrase is configured is rewritten encrypted, same keys', () => {
  const path = join(tmp.path, 'plain-secrets.json');
  const s = loadOrCreateSecrets(path);
  assert.is(mode(path), 0o600);
  assert.is(JSON.parse(readFileSync(path, 'utf8')).v, 1, 'no passphrase: plain JSON as before');
  const loaded = loadOrCreateSecrets(path, PASS);
  assert.equal(loaded.masterKey, s.masterKey);
  assert.ok(isEncryptedKeyFile(readFileSync(path, 'utf8')));
  assert.is(mode(path), 0o600);
  assert.equal(loadOrCreateSecrets(path, PASS).encryption.secretKey, s.encryption.secretKey);
});

test('a CA made with a passphrase: ca.key and issued keys encrypted (0600), unreadable by openssl, usable with it', async () => {
  const dir = join(tmp.path, 'ca');
  await initCaDir(dir, { id: 'enc-ca', passphrase: PASS });
  const caKey = join(dir, 'ca.key');
  assert.is(mode(caKey), 0o600);
  assert.ok(isEncryptedKeyFile(readFileSync(caKey, 'utf8')));
  const openssl = spawnSync('openssl', ['pkey', '-in', caKey, '-noout'], { encoding: 'utf8' });
  assert.is.not(openssl.status, 0, 'openssl pkey reads the encrypted key');
  throwsCode(() => loadCaDir(dir), 'ERR_PASSPHRASE');
  await rejectsCode(() => issueToDir(dir, { role: 'buyer', id: 'bob', passphrase: 'wrong' }), 'ERR_PASSPHRASE');
  const r = await issueToDir(dir, { role: 'buyer', id: 'bob', passphrase: PASS });
  assert.is(mode(r.keyPath), 0o600);
  assert.ok(isEncryptedKeyFile(readFileSync(r.keyPath, 'utf8')));
  assert.is(spawnSync('openssl', ['pkey', '-in', r.keyPath, '-noout']).status === 0, false);
  // decrypted, the key is a PKCS#8 OpenSSL reads
  const plain = write('bob-plain.key', readPrivateKeyFile(r.keyPath, PASS));
  assert.is(spawnSync('openssl', ['pkey', '-in', plain, '-noout']).status, 0);
});

test.run();
