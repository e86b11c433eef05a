/**
 * Crypto benchmark: split-key RSA operations at 2048 and 3072 bits against one OpenSSL
 * RSA-SHA256 signature (`crypto.sign('sha256', …)`) measured in the same run, plus
 * Ed25519 with noble, OpenSSL (node:crypto) and libsodium (the one in use). Targets
 * (PROTOCOL.md performance goals, completion restated by issue 21):
 *   partial sign ≤ 4x one OpenSSL RS256 signature, partial verify ≤ 1x;
 *   completion ≤ 1.15x OpenSSL's own modexp with a full-size exponent on the same n. The
 *   Agent Home has no p, q, so m^d2 cannot use the CRT: its floor is one full-size
 *   exponentiation (the public-key path with an exponent as long as d2, here d2 itself
 *   through a prepared KeyObject), not a CRT signature.
 */
import { constants, createPrivateKey, publicEncrypt, sign as nodeSign, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { utf8 } from '../crypto/bytes.js';
import { ED25519_BACKEND, ed25519SignNoble, ed25519Sign, ed25519SignOpenssl, ed25519VerifyNoble, ed25519Verify, ed25519VerifyOpenssl, generateIdentityKey } from '../crypto/ed25519.js';
import {
  completeMessage,
  createEscrowProof,
  generateSessionKey,
  partialSignMessage,
  partialVerifyMessage,
  rsaPrivateJwk,
  rsaPublicKey,
  signRs256,
  splitKey,
  verifyEscrowProof,
  verifyRs256,
  type RsaKeySize,
} from '../crypto/rsa/index.js';
import { bigintToB64u } from '../crypto/bytes.js';
import { measure, measureInterleaved, printTargets, table, target, writeResults, type Sample, type Target } from './lib.js';

const MESSAGE = utf8('eyJhbGciOiJSUzI1NiJ9.' + 'eyJzbiI6IjAxMjM0NTY3ODlhYmNkZWYiLCJ0ZXJtcyI6eyJwcmljZSI6MTE5OX19'.repeat(8));
const CONTEXT = utf8('request-hash:bench');

interface Row {
  op: string;
  bits: number | null;
  sample: Sample;
  /** median of this op's baseline measured just before it (RS256 sign, or the full-size modexp for the completion) */
  baselineMs: number | null;
  ratio: number | null;
}

async function rsaRows(bits: RsaKeySize): Promise<{ rows: Row[]; targets: Target[] }> {
  const keygen = await measure(() => generateSessionKey(bits), { minRuns: 5, minMs: 0, warmup: 1 });
  const key = await generateSessionKey(bits);
  const pub = rsaPublicKey(key);
  const nodeKey = createPrivateKey({ key: rsaPrivateJwk(key), format: 'jwk' });
  const nodePub = createPublicKey(nodeKey);
  const split = splitKey(key);
  const sg1 = partialSignMessage(key, split, MESSAGE);
  const sg = completeMessage(pub, split.d2, MESSAGE, sg1);
  const proof = createEscrowProof(key, split, CONTEXT);

  // Each op is measured right after its own baseline run, so that load from other processes
  // or CPU frequency drift during the run affects both sides of a ratio alike.
  const baselineFn = () => nodeSign('sha256', MESSAGE, nodeKey);
  // the completion's baseline: x^d2 mod n by OpenSSL's public-key path, its KeyObject made
  // once (RSA_NO_PADDING: the bare exponentiation)
  const modexpKey = createPublicKey({ key: { kty: 'RSA', n: bigintToB64u(pub.n), e: bigintToB64u(split.d2) }, format: 'jwk' });
  const modexpFn = () => publicEncryptRaw(modexpKey, sg1);
  const paired = async (fn: () => unknown): Promise<{ sample: Sample; baselineMs: number }> => {
    const base = await measure(baselineFn);
    const sample = await measure(fn);
    return { sample, baselineMs: base.medianMs };
  };
  const baseline = await measure(baselineFn);
  const ops: Array<[string, () => unknown]> = [
    ['split', () => splitKey(key)],
    ['partial sign', () => partialSignMessage(key, split, MESSAGE)],
    ['partial verify', () => partialVerifyMessage(pub, split.e1, MESSAGE, sg1)],
    ['completion', () => completeMessage(pub, split.d2, MESSAGE, sg1)],
    ['full sign', () => signRs256(key, MESSAGE)],
    ['verifyRs256', () => verifyRs256(pub, MESSAGE, sg)],
    ['openssl RS256 verify', () => nodeVerify('sha256', MESSAGE, nodePub, sg)],
    ['escrow proof create', () => createEscrowProof(key, split, CONTEXT)],
    ['escrow proof verify', () => verifyEscrowProof(pub, split.e1, split.d2, CONTEXT, proof)],
  ];
  const rows: Row[] = [
    { op: 'openssl RS256 sign (baseline)', bits, sample: baseline, baselineMs: baseline.medianMs, ratio: 1 },
    { op: 'session keygen', bits, sample: keygen, baselineMs: baseline.medianMs, ratio: keygen.medianMs / baseline.medianMs },
  ];
  for (const [op, fn] of ops) {
    const { sample, baselineMs } = await paired(fn);
    rows.push({ op, bits, sample, baselineMs, ratio: sample.medianMs / baselineMs });
    if (op === 'completion') {
      // the completion against its restated baseline: the two interleaved in rounds, so both
      // see the same load, and compared by this process's CPU time per run (wall time on a
      // shared machine includes waits for a core)
      const r = await measureInterleaved({ modexp: { fn: modexpFn }, completion: { fn } }, { rounds: 12, perRound: 5 });
      const cpuRatio = r.completion.cpuMedianMs! / r.modexp.cpuMedianMs!;
      rows.push({ op: 'openssl modexp, full-size exponent (completion baseline)', bits, sample: r.modexp, baselineMs, ratio: r.modexp.medianMs / baselineMs });
      rows.push({ op: 'completion vs modexp (CPU time, interleaved)', bits, sample: r.completion, baselineMs: r.modexp.medianMs, ratio: cpuRatio });
    }
  }
  const ratio = (op: string) => rows.find((r) => r.op === op)!.ratio!;
  const t = (name: string, op: string, goal: number, unit = '') =>
    target(`${name}-${bits}`, `${ratio(op).toFixed(2)}x${unit}`, `<=${goal}x${unit}`, ratio(op) <= goal);
  return {
    rows,
    targets: [t('partial-sign', 'partial sign', 4), t('completion', 'completion vs modexp (CPU time, interleaved)', 1.15, ' modexp'), t('partial-verify', 'partial verify', 1)],
  };
}

function publicEncryptRaw(key: ReturnType<typeof createPublicKey>, input: Uint8Array): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, input);
}

async function ed25519Rows(): Promise<Row[]> {
  const { secretKey, publicKey } = generateIdentityKey();
  const sig = ed25519SignNoble(MESSAGE, secretKey);
  // ed25519Verify remembers the signatures it has verified, so it is timed on a signature
  // of another message: a failing check costs what a passing one does, and is not kept
  const other = ed25519SignNoble(utf8('another message'), secretKey);
  const ops: Array<[string, Sample]> = [
    ['ed25519 sign (noble)', await measure(() => ed25519SignNoble(MESSAGE, secretKey))],
    ['ed25519 verify (noble)', await measure(() => ed25519VerifyNoble(sig, MESSAGE, publicKey))],
    ['ed25519 sign (OpenSSL)', await measure(() => ed25519SignOpenssl(MESSAGE, secretKey))],
    ['ed25519 verify (OpenSSL)', await measure(() => ed25519VerifyOpenssl(sig, MESSAGE, publicKey))],
    [`ed25519 sign (${ED25519_BACKEND}, in use)`, await measure(() => ed25519Sign(MESSAGE, secretKey))],
    [`ed25519 verify (${ED25519_BACKEND}, in use)`, await measure(() => ed25519Verify(other, MESSAGE, publicKey))],
  ];
  return ops.map(([op, sample]) => ({ op, bits: null, sample, baselineMs: null, ratio: null }));
}

export async function run(): Promise<void> {
  const rows: Row[] = [];
  const targets: Target[] = [];
  for (const bits of [2048, 3072] as const) {
    const r = await rsaRows(bits);
    rows.push(...r.rows);
    targets.push(...r.targets);
  }
  rows.push(...(await ed25519Rows()));

  console.log('crypto benchmark (median ms; ratio = median / OpenSSL RS256 sign at the same size, measured just before; "completion vs modexp": / the full-size modexp measured just before)');
  console.log(
    table([
      ['op', 'bits', 'median ms', 'p95 ms', 'runs', 'baseline ms', 'ratio'],
      ...rows.map((r) => [
        r.op,
        r.bits === null ? '-' : String(r.bits),
        r.sample.medianMs.toFixed(3),
        r.sample.p95Ms.toFixed(3),
        String(r.sample.runs),
        r.baselineMs === null ? '-' : r.baselineMs.toFixed(3),
        r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
      ]),
    ]),
  );
  const file = writeResults(
    'crypto',
    rows.map((r) => ({ op: r.op, bits: r.bits, medianMs: r.sample.medianMs, p95Ms: r.sample.p95Ms, runs: r.sample.runs, baselineMs: r.baselineMs, ratio: r.ratio })),
    targets,
  );
  console.log(`results: ${file}`);
  printTargets(targets);
}
