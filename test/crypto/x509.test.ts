/**
 * X.509 layer: the certificate profile, parsing, verification against the CA with each
 * failure's code, the verification cache, and interoperability with `openssl verify`.
 * Certificates that break the profile in ways our issuer never would are made with the
 * openssl CLI and signed with our own CA key.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ed25519PrivateKeyPem, generateIdentityKey } from '../../crypto/ed25519.js';
import {
  PARTY_ROLES,
  assertPartyId,
  clearCertificateCache,
  createCa,
  issueCertificate,
  parseCertificate,
  verifyCaCertificate,
  verifyCertificate,
  type CertificateAuthority,
  type ParsedCertificate,
} from '../../crypto/x509/index.js';
import { flipBit, throwsCode } from '../helpers/assert.js';
import { tempDir } from '../helpers/paths.js';

const DAY = 86_400_000;
const tmp = tempDir('parley-x509-');
let ca: CertificateAuthority;
let otherCa: CertificateAuthority; // same default name as `ca`, different key
let renamedCa: CertificateAuthority; // a different name
let merchant: ParsedCertificate;

function issue(role: (typeof PARTY_ROLES)[number], id: string, extra: { notBefore?: Date; notAfter?: Date; days?: number } = {}, by = ca) {
  return issueCertificate(by, { role, id, publicKey: generateIdentityKey().publicKey, ...extra });
}

function file(name: string, content: string | Uint8Array): string {
  const p = join(tmp.path, name);
  writeFileSync(p, content);
  return p;
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function opensslVerify(caCert: ParsedCertificate, leaf: ParsedCertificate): { status: number | null; out: string } {
  return openssl(['verify', '-CAfile', file(`ca-${caCert.fingerprint}.pem`, caCert.pem), file(`leaf-${leaf.fingerprint}.pem`, leaf.pem)]);
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay).indexOf(Buffer.from(needle));
}

/** A certificate made by openssl from a CSR, signed with our CA's key, with the given extensions. */
function opensslSigned(name: string, subject: string, extensions: string): Uint8Array {
  const caPem = file('ca.pem', ca.certificate.pem);
  const caKey = file('ca.key', ed25519PrivateKeyPem(ca.secretKey));
  const key = join(tmp.path, `${name}.key`);
  const csr = join(tmp.path, `${name}.csr`);
  const out = join(tmp.path, `${name}.pem`);
  const ext = file(`${name}.ext`, extensions);
  let r = openssl(['req', '-new', '-newkey', 'ed25519', '-nodes', '-keyout', key, '-subj', subject, '-out', csr]);
  assert.is(r.status, 0, r.out);
  r = openssl(['x509', '-req', '-in', csr, '-CA', caPem, '-CAkey', caKey, '-days', '30', '-extfile', ext, '-out', out]);
  assert.is(r.status, 0, r.out);
  return new Uint8Array(readFileSync(out));
}

test.before(async () => {
  ca = await createCa();
  otherCa = await createCa();
  renamedCa = await createCa({ id: 'other-ca', days: 30 });
  merchant = await issue('merchant', 'shop-1');
});

test.after(() => tmp.remove());

test('CA certificate: self-signed Ed25519 CA with the profile extensions', () => {
  const c = ca.certificate;
  assert.is(c.role, 'ca');
  assert.is(c.id, 'parley-ca');
  assert.ok(c.isCa);
  assert.equal([...c.keyUsage], ['keyCertSign', 'cRLSign']);
  assert.is(c.subject, 'CN=parley-ca,OU=ca,O=Parley');
  assert.is(c.issuer, c.subject);
  assert.is(ca.secretKey.length, 32);
  assert.is(Math.round((c.notAfter.getTime() - c.notBefore.getTime()) / DAY), 3650);
  assert.is(verifyCaCertificate(c.pem).fingerprint, c.fingerprint);
  const text = openssl(['x509', '-noout', '-text', '-in', file('ca-text.pem', c.pem)]).out;
  assert.match(text, /Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /Subject Key Identifier/);
  assert.match(text, /URI:urn:parley:ca:parley-ca/);
  assert.match(text, /Signature Algorithm: ED25519/);
  assert.is(opensslVerify(ca.certificate, ca.certificate).status, 0);
});

test('issues a certificate for each party role, and it round-trips through parsing', async () => {
  for (const role of PARTY_ROLES) {
    const key = generateIdentityKey();
    const cert = await issueCertificate(ca, { role, id: `${role}_7`, publicKey: key.publicKey, days: 30 });
    assert.is(cert.role, role);
    assert.is(cert.id, `${role}_7`);
    assert.equal(cert.publicKey, key.publicKey);
    assert.is(cert.subject, `CN=${role}_7,OU=${role},O=Parley`);
    assert.is(cert.issuer, ca.certificate.subject);
    assert.not.ok(cert.isCa);
    assert.equal([...cert.keyUsage], ['digitalSignature']);
    assert.is(Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY), 30);
    for (const input of [cert.pem, cert.der, new TextEncoder().encode(cert.pem)]) {
      const back = parseCertificate(input);
      assert.is(back.fingerprint, cert.fingerprint);
      assert.is(back.role, role);
      assert.is(back.id, cert.id);
      assert.equal(back.publicKey, key.publicKey);
      assert.is(back.serial, cert.serial);
      assert.is(back.notAfter.getTime(), cert.notAfter.getTime());
    }
    const v = verifyCertificate(cert.pem, ca.certificate.pem, { role, id: cert.id });
    assert.is(v.id, cert.id);
    assert.equal(v.publicKey, key.publicKey);
    const r = opensslVerify(ca.certificate, cert);
    assert.is(r.status, 0, r.out);
    const text = openssl(['x509', '-noout', '-text', '-in', file(`${role}-text.pem`, cert.pem)]).out;
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature/);
    assert.match(text, /Authority Key Identifier/);
    assert.match(text, new RegExp(`URI:urn:parley:${role}:${role}_7`));
  }
});

test('serial numbers: random, positive, at least 64 bits', async () => {
  const serials = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const s = (await issue('buyer', `b${i}`)).serial;
    assert.ok(BigInt('0x' + s) >= 2n ** 63n, `serial ${s} has fewer than 64 bits`);
    assert.ok(Number.parseInt(s[0]!, 16) < 8, 'serial must be positive in DER');
    serials.add(s);
  }
  assert.is(serials.size, 8);
});

test('fingerprint is SHA-256 of the DER', async () => {
  const { createHash } = await import('node:crypto');
  assert.is(merchant.fingerprint, createHash('sha256').update(merchant.der).digest('hex'));
});

test('verify: role and id must match', () => {
  assert.is(verifyCertificate(merchant, ca.certificate, { role: ['buyer', 'merchant'] }).role, 'merchant');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { role: 'buyer' }), 'ERR_CERT_ROLE');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { role: ['buyer', 'agent-home'] }), 'ERR_CERT_ROLE');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { role: 'merchant', id: 'shop-2' }), 'ERR_CERT_ID');
});

test('verify: validity period', async () => {
  const now = Date.now();
  const expired = await issue('buyer', 'old', { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
  throwsCode(() => verifyCertificate(expired, ca.certificate), 'ERR_CERT_EXPIRED');
  const future = await issue('buyer', 'later', { notBefore: new Date(now + DAY), days: 2 });
  throwsCode(() => verifyCertificate(future, ca.certificate), 'ERR_CERT_NOT_YET_VALID');
  assert.is(verifyCertificate(future, ca.certificate, { at: new Date(now + 2 * DAY) }).id, 'later');
  // bounds are inclusive (RFC 5280 §4.1.2.5)
  assert.ok(verifyCertificate(merchant, ca.certificate, { at: merchant.notAfter }));
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { at: new Date(merchant.notAfter.getTime() + 1000) }), 'ERR_CERT_EXPIRED');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { at: new Date(merchant.notBefore.getTime() - 1000) }), 'ERR_CERT_NOT_YET_VALID');
  // openssl agrees about the expired one
  assert.is.not(opensslVerify(ca.certificate, expired).status, 0);
});

test('verify: the CA certificate itself must be valid at the check time', async () => {
  const now = Date.now();
  const shortCa = await createCa({ notBefore: new Date(now - 30 * DAY), notAfter: new Date(now + DAY) });
  const leaf = await issue('buyer', 'b', { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now + DAY) }, shortCa);
  assert.ok(verifyCertificate(leaf, shortCa.certificate));
  throwsCode(() => verifyCertificate(leaf, shortCa.certificate, { at: new Date(now + 2 * DAY) }), 'ERR_CERT_EXPIRED');
  throwsCode(() => verifyCaCertificate(shortCa.certificate.pem, new Date(now + 2 * DAY)), 'ERR_CERT_EXPIRED');
  throwsCode(() => verifyCertificate(leaf, shortCa.certificate, { at: new Date(now - 40 * DAY) }), 'ERR_CERT_NOT_YET_VALID');
});

test('verify: a certificate from another CA is refused (ERR_CERT_CHAIN), by us and by openssl', async () => {
  // same CA name, different key: caught by the key identifier and the signature
  const foreign = await issue('merchant', 'shop-1', {}, otherCa);
  throwsCode(() => verifyCertificate(foreign, ca.certificate, { role: 'merchant' }), 'ERR_CERT_CHAIN');
  throwsCode(() => verifyCertificate(merchant, otherCa.certificate), 'ERR_CERT_CHAIN');
  assert.is.not(opensslVerify(ca.certificate, foreign).status, 0);
  assert.is(opensslVerify(otherCa.certificate, foreign).status, 0);
  // a differently named CA: caught by the issuer name
  const renamed = await issue('merchant', 'shop-1', { days: 10 }, renamedCa);
  throwsCode(() => verifyCertificate(renamed, ca.certificate), 'ERR_CERT_CHAIN');
  assert.is.not(opensslVerify(ca.certificate, renamed).status, 0);
});

test('verify: a flipped bit in the signature or the signed bytes is ERR_CERT_CHAIN; in the structure ERR_CERT_MALFORMED', () => {
  const der = merchant.der;
  // last byte belongs to the 64-byte signature value
  throwsCode(() => verifyCertificate(flipBit(der, (der.length - 1) * 8), ca.certificate), 'ERR_CERT_CHAIN', 'signature bit');
  throwsCode(() => verifyCertificate(flipBit(der, (der.length - 40) * 8 + 3), ca.certificate), 'ERR_CERT_CHAIN', 'signature bit 2');
  // a bit of the subject public key, inside tbsCertificate
  const pk = indexOf(der, merchant.publicKey);
  assert.ok(pk > 0);
  throwsCode(() => verifyCertificate(flipBit(der, (pk + 5) * 8), ca.certificate), 'ERR_CERT_CHAIN', 'public key bit');
  // a bit of the serial number, inside tbsCertificate
  const serial = indexOf(der, Buffer.from(merchant.serial, 'hex'));
  throwsCode(() => verifyCertificate(flipBit(der, (serial + 4) * 8), ca.certificate), 'ERR_CERT_CHAIN', 'serial bit');
  // such a certificate still parses: it is the signature that rejects it
  assert.is.not(parseCertificate(flipBit(der, (pk + 5) * 8)).fingerprint, merchant.fingerprint);
  // the outer SEQUENCE tag, and the length of tbsCertificate
  throwsCode(() => verifyCertificate(flipBit(der, 1), ca.certificate), 'ERR_CERT_MALFORMED', 'outer tag');
  throwsCode(() => verifyCertificate(flipBit(der, 7 * 8), ca.certificate), 'ERR_CERT_MALFORMED', 'tbs length');
  // flipped bits in the CA's own signature make every chain fail
  const caDer = ca.certificate.der;
  throwsCode(() => verifyCertificate(merchant, flipBit(caDer, (caDer.length - 1) * 8)), 'ERR_CERT_CHAIN', 'CA signature bit');
  throwsCode(() => verifyCaCertificate(flipBit(caDer, (caDer.length - 1) * 8)), 'ERR_CERT_CHAIN');
});

test('verify: a leaf cannot act as CA (ERR_CERT_CHAIN), a CA cannot act as a party (ERR_CERT_USAGE)', async () => {
  const other = await issue('buyer', 'alice');
  throwsCode(() => verifyCertificate(other, merchant), 'ERR_CERT_CHAIN');
  throwsCode(() => verifyCertificate(ca.certificate, ca.certificate), 'ERR_CERT_USAGE');
  throwsCode(() => verifyCaCertificate(merchant.pem), 'ERR_CERT_CHAIN');
  // and issuing with a leaf as CA is refused
  await issueCertificate({ certificate: merchant, secretKey: ca.secretKey }, { role: 'buyer', id: 'x', publicKey: generateIdentityKey().publicKey }).then(
    () => assert.unreachable('issued with a leaf as CA'),
    (e: { code?: string }) => assert.is(e.code, 'ERR_CERT_USAGE'),
  );
});

test('verify: leaf certificates that claim CA, lack digitalSignature or carry unknown critical extensions (ERR_CERT_USAGE)', () => {
  const san = 'subjectAltName=URI:urn:parley:buyer:eve\n';
  const good = opensslSigned('good', '/O=Parley/OU=buyer/CN=eve', `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n${san}`);
  assert.is(verifyCertificate(good, ca.certificate, { role: 'buyer', id: 'eve' }).id, 'eve');
  const claimsCa = opensslSigned('claims-ca', '/O=Parley/OU=buyer/CN=eve', `basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\n${san}`);
  throwsCode(() => verifyCertificate(claimsCa, ca.certificate), 'ERR_CERT_USAGE', 'CA:TRUE leaf');
  const noSign = opensslSigned('no-sign', '/O=Parley/OU=buyer/CN=eve', `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyAgreement\n${san}`);
  throwsCode(() => verifyCertificate(noSign, ca.certificate), 'ERR_CERT_USAGE', 'no digitalSignature');
  const noKu = opensslSigned('no-ku', '/O=Parley/OU=buyer/CN=eve', `basicConstraints=critical,CA:FALSE\n${san}`);
  throwsCode(() => verifyCertificate(noKu, ca.certificate), 'ERR_CERT_USAGE', 'no keyUsage');
  const unknown = opensslSigned('unknown', '/O=Parley/OU=buyer/CN=eve', `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n${san}1.3.6.1.4.1.99999.1=critical,ASN1:NULL\n`);
  throwsCode(() => verifyCertificate(unknown, ca.certificate), 'ERR_CERT_USAGE', 'unknown critical extension');
  // a leaf with role "ca" in its identity is not a party either
  const roleCa = opensslSigned('role-ca', '/O=Parley/OU=ca/CN=eve', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=URI:urn:parley:ca:eve\n');
  throwsCode(() => verifyCertificate(roleCa, ca.certificate), 'ERR_CERT_USAGE', 'role ca leaf');
});

test('parse: the identity must be stated once in the SAN and agree with the subject (ERR_CERT_MALFORMED)', () => {
  const ext = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n';
  const cases: [string, string, string][] = [
    ['no-san', '/O=Parley/OU=buyer/CN=eve', ext],
    ['disagree', '/O=Parley/OU=buyer/CN=eve', `${ext}subjectAltName=URI:urn:parley:merchant:eve\n`],
    ['two-uris', '/O=Parley/OU=buyer/CN=eve', `${ext}subjectAltName=URI:urn:parley:buyer:eve,URI:urn:parley:buyer:mallory\n`],
    ['dns-san', '/O=Parley/OU=buyer/CN=eve', `${ext}subjectAltName=DNS:eve.example\n`],
    ['bad-role', '/O=Parley/OU=admin/CN=eve', `${ext}subjectAltName=URI:urn:parley:admin:eve\n`],
    ['bad-id', '/O=Parley/OU=buyer/CN=Eve.x', `${ext}subjectAltName=URI:urn:parley:buyer:Eve.x\n`],
    ['wildcard-id', '/O=Parley/OU=buyer/CN=*', `${ext}subjectAltName=URI:urn:parley:buyer:*\n`],
    ['other-org', '/O=Evil/OU=buyer/CN=eve', `${ext}subjectAltName=URI:urn:parley:buyer:eve\n`],
    ['extra-rdn', '/O=Parley/OU=buyer/CN=eve/L=Paris', `${ext}subjectAltName=URI:urn:parley:buyer:eve\n`],
  ];
  for (const [name, subject, extensions] of cases) {
    const der = opensslSigned(name, subject, extensions);
    throwsCode(() => parseCertificate(der), 'ERR_CERT_MALFORMED', name);
    throwsCode(() => verifyCertificate(der, ca.certificate), 'ERR_CERT_MALFORMED', name);
  }
});

test('parse: a non-Ed25519 certificate is ERR_CERT_USAGE', () => {
  const out = join(tmp.path, 'ec.pem');
  const r = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(tmp.path, 'ec.key'), '-subj', '/O=Parley/OU=buyer/CN=eve', '-addext', 'subjectAltName=URI:urn:parley:buyer:eve', '-days', '1', '-out', out]);
  assert.is(r.status, 0, r.out);
  throwsCode(() => parseCertificate(readFileSync(out, 'utf8')), 'ERR_CERT_USAGE');
  throwsCode(() => verifyCertificate(readFileSync(out, 'utf8'), ca.certificate), 'ERR_CERT_USAGE');
});

test('parse: malformed input never escapes as a raw exception', () => {
  const bad: (string | Uint8Array)[] = [
    '',
    'hello',
    '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n',
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    merchant.pem + merchant.pem,
    merchant.pem.replace('CERTIFICATE', 'PRIVATE KEY'),
    new Uint8Array(0),
    new Uint8Array([0x30]),
    new Uint8Array([0x30, 0x80, 0, 0]),
    merchant.der.subarray(0, merchant.der.length - 1),
    Uint8Array.from([...merchant.der, 0]),
    new Uint8Array(300).fill(0x30),
    ca.certificate.der.subarray(4),
    new Uint8Array(40_000).fill(0x30),
    'A'.repeat(100_000),
  ];
  for (const [i, input] of bad.entries()) {
    throwsCode(() => parseCertificate(input), 'ERR_CERT_MALFORMED', `case ${i}`);
  }
  // every single-byte truncation and many bit flips: coded errors only
  for (let n = 0; n < merchant.der.length; n += 7) throwsCode(() => parseCertificate(merchant.der.subarray(0, n)), 'ERR_CERT_MALFORMED', `truncated to ${n}`);
  for (let bit = 0; bit < merchant.der.length * 8; bit += 13) {
    try {
      verifyCertificate(flipBit(merchant.der, bit), ca.certificate);
      assert.unreachable(`bit ${bit} flip accepted`);
    } catch (e) {
      assert.match(String((e as { code?: string }).code), /^ERR_CERT_(MALFORMED|CHAIN|USAGE|EXPIRED|NOT_YET_VALID)$/, `bit ${bit}: ${String(e)}`);
    }
  }
  assert.throws(() => parseCertificate(42 as unknown as string), TypeError);
});

test('party ids: lowercase subject-safe tokens only (ERR_INVALID_INPUT)', async () => {
  for (const id of ['a', '0', 'shop_1-x', 'a'.repeat(63)]) assertPartyId(id);
  for (const id of ['', 'A', 'shop.1', 'shop*', 'shop>', '-a', '_a', 'a b', 'a'.repeat(64), 'é', 'a:b']) {
    throwsCode(() => assertPartyId(id), 'ERR_INVALID_INPUT', JSON.stringify(id));
  }
  await issueCertificate(ca, { role: 'buyer', id: 'Bad.Id', publicKey: generateIdentityKey().publicKey }).then(
    () => assert.unreachable('issued a bad id'),
    (e: { code?: string }) => assert.is(e.code, 'ERR_INVALID_INPUT'),
  );
  await createCa({ id: 'CA' }).then(
    () => assert.unreachable('created a CA with a bad id'),
    (e: { code?: string }) => assert.is(e.code, 'ERR_INVALID_INPUT'),
  );
});

test('issue: refuses a leaf outliving its CA, role "ca", and a CA key that does not match', async () => {
  const reject = async (p: Promise<unknown>, code: string, what: string) =>
    p.then(
      () => assert.unreachable(what),
      (e: { code?: string }) => assert.is(e.code, code, what),
    );
  const pk = generateIdentityKey().publicKey;
  await reject(issueCertificate(renamedCa, { role: 'buyer', id: 'b', publicKey: pk, days: 365 }), 'ERR_INVALID_INPUT', 'outlives CA');
  await reject(issueCertificate(ca, { role: 'ca' as 'buyer', id: 'b', publicKey: pk }), 'ERR_INVALID_INPUT', 'role ca');
  await reject(issueCertificate({ certificate: ca.certificate, secretKey: otherCa.secretKey }, { role: 'buyer', id: 'b', publicKey: pk }), 'ERR_INVALID_INPUT', 'key mismatch');
  await reject(issueCertificate(ca, { role: 'buyer', id: 'b', publicKey: new Uint8Array(32).fill(0xff) }), 'ERR_INVALID_INPUT', 'not a point');
  await reject(issueCertificate(ca, { role: 'buyer', id: 'b', publicKey: pk, days: 0 }), 'ERR_INVALID_INPUT', 'zero days');
  await reject(issueCertificate(ca, { role: 'buyer', id: 'b', publicKey: pk, notBefore: new Date(), notAfter: new Date(Date.now() - DAY) }), 'ERR_INVALID_INPUT', 'empty validity');
});

test('cache: repeated checks still check validity time, role and id every time', () => {
  clearCertificateCache();
  const first = verifyCertificate(merchant, ca.certificate, { role: 'merchant' });
  const second = verifyCertificate(merchant.pem, ca.certificate.pem, { role: 'merchant' });
  assert.is(second.fingerprint, first.fingerprint);
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { at: new Date(merchant.notAfter.getTime() + DAY) }), 'ERR_CERT_EXPIRED');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { at: new Date(ca.certificate.notAfter.getTime() + DAY) }), 'ERR_CERT_EXPIRED');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { role: 'buyer' }), 'ERR_CERT_ROLE');
  throwsCode(() => verifyCertificate(merchant, ca.certificate, { id: 'x' }), 'ERR_CERT_ID');
  // callers get copies: changing one does not change what the cache hands out next
  first.publicKey.fill(0);
  assert.equal(verifyCertificate(merchant, ca.certificate).publicKey, merchant.publicKey);
  // the pair is the key: the same leaf under another CA is checked afresh
  throwsCode(() => verifyCertificate(merchant, otherCa.certificate), 'ERR_CERT_CHAIN');
});

test.run();
