/**
 * `parley home audit --verify` on a log into which anything may have been written: whatever
 * the bytes at a position (not JSON, missing fields, wrong types, bad signature, bad link, a
 * sequence repeated or skipped), verification names that position and why, and neither the
 * check nor the printed report throws.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { AUDIT_TYPE, auditReport, GENESIS, renderAudit, verifyAuditLog, type AuditEntry } from '../../agent-home/audit.js';
import { canonicalBytes, type JsonValue } from '../../crypto/canonical.js';
import { toHex, utf8 } from '../../crypto/bytes.js';
import { sha256 } from '../../crypto/hash.js';
import { signObject } from '../../crypto/signed.js';
import { generateIdentityKey } from '../../crypto/ed25519.js';

const test = suite('audit verification of malformed records');
const home = generateIdentityKey();
const other = generateIdentityKey();

/** A valid log of `n` records. */
function validLog(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const raw = canonicalBytes(signObject(AUDIT_TYPE, { seq, at: new Date(seq * 1000).toISOString(), event: 'invite-sent', sn: 'ab'.repeat(16), details: { merchant: 'shop-a' }, prev }, home.secretKey));
    out.push({ seq, raw });
    prev = toHex(sha256(raw));
  }
  return out;
}

const log = validLog(5);
const at = 3;
const prevOf = toHex(sha256(log[at - 2]!.raw!));
const put = (raw: Uint8Array | undefined) => log.map((e) => (e.seq === at ? { seq: at, ...(raw ? { raw } : {}) } : e));
const signedBody = (body: Record<string, JsonValue>, key = home.secretKey) => canonicalBytes(signObject(AUDIT_TYPE, body, key));
const good = { seq: at, at: new Date().toISOString(), event: 'invite-sent', details: {}, prev: prevOf };

function brokenAt(entries: AuditEntry[]): { seq: number; reason: string } {
  const check = verifyAuditLog(entries, home.publicKey);
  assert.not.ok(check.ok);
  const text = renderAudit(auditReport(entries, home.publicKey));
  assert.match(text, new RegExp(`BROKEN at record #${check.firstBroken!.seq}: `));
  return check.firstBroken!;
}

test('each malformed shape is named at its position', () => {
  assert.equal(verifyAuditLog(log, home.publicKey), { ok: true, records: 5 });
  const cases: Array<[string, AuditEntry[], RegExp]> = [
    ['not JSON', put(utf8('{not json')), /not JSON/],
    ['not UTF-8', put(new Uint8Array([0xff, 0xfe])), /not JSON/],
    ['a JSON array', put(utf8('[1,2]')), /not a signed object/],
    ['a key twice', put(utf8('{"body":{"seq":3},"body":{"seq":3}}')), /a key appears twice/],
    ['JSON null', put(utf8('null')), /not a signed object/],
    ['no body', put(utf8('{"sig":"x"}')), /malformed record: body/],
    ['missing event', put(signedBody({ seq: at, at: 'x', details: {}, prev: prevOf })), /malformed record: event/],
    ['event a number', put(signedBody({ ...good, event: 7 })), /malformed record: event/],
    ['details a string', put(signedBody({ ...good, details: 'x' })), /malformed record: details/],
    ['seq a string', put(signedBody({ ...good, seq: '3' })), /malformed record: seq/],
    ['prev not hex', put(signedBody({ ...good, prev: 'zz' })), /malformed record: prev/],
    ['an extra field', put(signedBody({ ...good, extra: 1 })), /malformed record/],
    ['signed by another key', put(signedBody(good, other.secretKey)), /signature is not the Agent Home's/],
    ['unknown event', put(signedBody({ ...good, event: 'coffee' })), /unknown event/],
    ['bad link', put(signedBody({ ...good, prev: GENESIS })), /link to record 2 does not match/],
    ['sequence repeated', put(signedBody({ ...good, seq: at - 1 })), /states sequence 2, stored at 3/],
    ['deleted', put(undefined), /record missing/],
  ];
  for (const [what, entries, reason] of cases) {
    const b = brokenAt(entries);
    assert.is(b.seq, at, what);
    assert.match(b.reason, reason, `${what}: ${b.reason}`);
  }
  // a position skipped in what was read
  const skipped = log.filter((e) => e.seq !== at);
  assert.equal(verifyAuditLog(skipped, home.publicKey).firstBroken, { seq: at, reason: 'record missing' });
});

test('fuzz: any bytes or any JSON at a position are caught there, and nothing throws', () => {
  const anyBody = fc.oneof(fc.jsonValue(), fc.record({ seq: fc.jsonValue(), at: fc.jsonValue(), event: fc.jsonValue(), details: fc.jsonValue(), prev: fc.jsonValue() }, { requiredKeys: [] }));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((b) => ({ raw: b })),
        fc.jsonValue().map((v) => ({ raw: utf8(JSON.stringify(v) ?? 'null') })),
        anyBody.map((b) => ({ raw: canonicalBytes(signObject(AUDIT_TYPE, b as Record<string, JsonValue>, home.secretKey)) })),
        anyBody.map((b) => ({ raw: utf8(JSON.stringify({ body: b, sig: 'AA' })) })),
      ),
      ({ raw }) => {
        const entries = put(raw);
        const check = verifyAuditLog(entries, home.publicKey);
        assert.not.ok(check.ok);
        assert.is(check.firstBroken!.seq, at);
        assert.ok(check.firstBroken!.reason.length > 0);
        renderAudit(auditReport(entries, home.publicKey));
        renderAudit(auditReport(entries));
      },
    ),
    { numRuns: 400 },
  );
});

test.run();
