/**
 * What each counted primitive costs when done alone on this machine (bench/limit.ts):
 *
 * - crypto, timed in this process with the product's own calls (node:crypto, OpenSSL):
 *   Ed25519 (in OpenSSL, as the limit is defined; libsodium's cost, which the
 *   implementation pays, beside it) and SHA-256 as base + per-byte (timed at two message
 *   sizes), the RSA exponentiations at 2048 bits exactly as crypto/rsa/openssl.ts runs
 *   them, session key generation, the sealed box's X25519 (OpenSSL, as crypto/seal.ts runs it) and its
 *   symmetric part, the at-rest encryption (@noble);
 * - NATS, on a fresh nats-server of its own with two client connections like two parties,
 *   each by the client path the implementation uses: a request/reply, a plain publish to a
 *   subscriber, a JetStream publish awaiting its PubAck (file storage, like the Agent Home's
 *   streams), a KV read (direct get). These are
 *   CPU time, not latency: this process (both clients) plus the server, over many
 *   sequential operations, divided by their number.
 */
import { diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { NatsConnection } from 'nats';
import { generateIdentityKey, ed25519Sign, ed25519SignOpenssl, ed25519Verify, ed25519VerifyOpenssl } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { bigintToB64u, byteLength, i2osp, utf8 } from '../crypto/bytes.js';
import { generateSessionKey, splitKey } from '../crypto/rsa/index.js';
import { powPrivate, powPublic, powPublicBytes } from '../crypto/rsa/openssl.js';
import { partialKeyObject } from '../crypto/rsa/split.js';
import { privateKeyObject } from '../crypto/rsa/validate.js';
import { atRestAad, decryptAtRest, deriveSessionKey, encryptAtRest, generateMasterKey } from '../crypto/at-rest.js';
import { startNatsServer } from '../agents/transport/nats-server.js';
import { connectNats } from '../agents/transport/connect.js';
import { JetStreamReplies } from '../agents/storage/js-replies.js';
import { KvClient } from '../agents/storage/kv-client.js';
import { Requests } from '../agents/transport/requests.js';
import { exampleRules } from '../test/helpers/world.js';
import type { JsonValue } from '../crypto/canonical.js';
import type { CryptoOp } from './limit-count.js';
import { cpuMs, pidCpuMs } from './cpu.js';
import { measure } from './lib.js';

/** Cost of one operation: `baseUs` + `perByteUs` × message bytes. */
export interface UnitCost {
  baseUs: number;
  perByteUs: number;
}

const SMALL = 64;
const LARGE = 16 * 1024;

async function medianUs(fn: () => unknown): Promise<number> {
  return (await measure(fn, { minRuns: 30, minMs: 150, warmup: 10 })).medianMs * 1000;
}

/** base + per-byte from timings at SMALL and LARGE bytes. */
async function linear(fn: (msg: Uint8Array) => unknown): Promise<UnitCost> {
  const small = randomBytes(SMALL);
  const large = randomBytes(LARGE);
  const a = await medianUs(() => fn(small));
  const b = await medianUs(() => fn(large));
  const perByteUs = Math.max(0, (b - a) / (LARGE - SMALL));
  return { baseUs: Math.max(0, a - perByteUs * SMALL), perByteUs };
}

const flat = (us: number): UnitCost => ({ baseUs: us, perByteUs: 0 });

export interface CryptoCosts {
  ops: Map<CryptoOp, UnitCost>;
  /** the buyer's session key generation (2048 bits, with the split) */
  keygenUs: number;
  /**
   * The sealed box (crypto/seal.ts): one X25519 scalar multiplication in OpenSSL, as the
   * box does it, and the symmetric part of sealing or opening (HKDF-SHA256 +
   * XChaCha20-Poly1305 of d2 and the rules)
   */
  x25519OpensslUs: number;
  sealSymmetricUs: number;
  /** the escrow's at-rest encryption (key derivation included), and its decryption */
  atRestEncryptUs: number;
  atRestDecryptUs: number;
  /**
   * Ed25519 as the implementation runs it (libsodium, crypto/ed25519.ts). `ops` prices
   * Ed25519 in OpenSSL, as the limit is defined; this is shown beside it.
   */
  ed25519Libsodium: { sign: UnitCost; verify: UnitCost };
}

export async function cryptoCosts(): Promise<CryptoCosts> {
  const id = generateIdentityKey();
  const key = await generateSessionKey(2048);
  const split = splitKey(key);
  const k = byteLength(key.n);
  const input = i2osp(BigInt('0x' + randomBytes(k - 1).toString('hex')), k); // < n
  const m = BigInt('0x' + randomBytes(k - 1).toString('hex'));
  const sig = ed25519Sign(randomBytes(SMALL), id.secretKey);
  const ops = new Map<CryptoOp, UnitCost>([
    ['ed25519 sign', await linear((msg) => ed25519SignOpenssl(msg, id.secretKey))],
    // a failing verify costs what a passing one does (and ed25519Verify, priced below,
    // does not remember it); the message varies, the signature need not
    ['ed25519 verify', await linear((msg) => ed25519VerifyOpenssl(sig, msg, id.publicKey))],
    ['sha-256', await linear((msg) => sha256(msg))],
    ['rsa m^d1 (partial sign, CRT)', flat(await medianUs(() => powPrivate(partialKeyObject(key, split), input)))],
    ['rsa m^d (full sign, CRT)', flat(await medianUs(() => powPrivate(privateKeyObject(key), input)))],
    ['rsa s^e (verify)', flat(await medianUs(() => powPublicBytes(input, key.e, key.n, { cache: true })))],
    ['rsa SG1^e1 (partial verify)', flat(await medianUs(() => powPublicBytes(input, split.e1, key.n, { cache: true })))],
    // as complete.ts runs it: the secret exponent's key object is not cached
    ['rsa m^d2 (completion)', flat(await medianUs(() => powPublic(m % key.n, split.d2, key.n, { cache: false })))],
  ]);
  const keygenUs = (await measure(async () => splitKey(await generateSessionKey(2048)), { minRuns: 5, minMs: 0, warmup: 1 })).medianMs * 1000;

  const secrets: JsonValue = { d2: bigintToB64u(split.d2), rules: exampleRules() as JsonValue };
  const [a, b] = [generateKeyPairSync('x25519'), generateKeyPairSync('x25519')];
  const boxKey = randomBytes(32);
  const nonce = randomBytes(24);
  const context = utf8('request-hash:bench');
  const master = generateMasterKey();
  const plain = utf8(JSON.stringify(secrets));
  const sn = '0'.repeat(32);
  const blob = encryptAtRest(deriveSessionKey(master, sn), plain, atRestAad('escrow', sn));
  return {
    ops,
    keygenUs,
    x25519OpensslUs: await medianUs(() => diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey })),
    // as seal.ts derives the box key and encrypts (opening costs the same)
    sealSymmetricUs: await medianUs(() => xchacha20poly1305(hkdf(nobleSha256, boxKey, nonce, context, 32), nonce, context).encrypt(plain)),
    atRestEncryptUs: await medianUs(() => encryptAtRest(deriveSessionKey(master, sn), plain, atRestAad('escrow', sn))),
    atRestDecryptUs: await medianUs(() => decryptAtRest(deriveSessionKey(master, sn), blob, atRestAad('escrow', sn))),
    ed25519Libsodium: {
      sign: await linear((msg) => ed25519Sign(msg, id.secretKey)),
      verify: await linear((msg) => ed25519Verify(sig, msg, id.publicKey)),
    },
  };
}

export interface MessageSizes {
  request: number;
  reply: number;
  publish: number;
  /** a stored message delivered to a watch */
  delivery: number;
  jsWrite: number;
  jsRead: number;
}

export interface NatsCosts {
  /** CPU µs (clients + server) per operation */
  requestUs: number;
  /** the nats-server's part of each figure above (the rest is the clients'), for the priced CPU by role */
  serverUs: { request: number; publish: number; delivery: number; jsWrite: number };
  publishUs: number;
  /** a publish of a delivery's size (the server sends a stored message to a subscriber) */
  deliveryUs: number;
  jsWriteUs: number;
  jsReadUs: number;
  /** median wall-clock µs of one request/reply, for scale */
  requestLatencyUs: number;
  sizes: MessageSizes;
}

/** the server's share of the last cpuPerOp measurement */
let lastServerShare = 0;

/** CPU µs per run of `op` over `n` sequential runs, this process and the server together. */
async function cpuPerOp(serverPid: number, n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, n); i++) await op(i); // warm-up
  const c0 = cpuMs(serverPid);
  const s0 = pidCpuMs(serverPid);
  for (let i = 0; i < n; i++) await op(i);
  const total = cpuMs(serverPid) - c0;
  lastServerShare = total > 0 ? (pidCpuMs(serverPid) - s0) / total : 0;
  return (total * 1000) / n;
}

export async function natsCosts(sizes: MessageSizes, n = 2000): Promise<NatsCosts> {
  const server = await startNatsServer();
  const conns: NatsConnection[] = [];
  try {
    const a = await connectNats({ servers: server.url, name: 'limit-a' });
    const b = await connectNats({ servers: server.url, name: 'limit-b' });
    conns.push(a, b);
    const fill = (bytes: number) => new Uint8Array(Math.max(1, Math.round(bytes))).fill(120);
    const request = fill(sizes.request);
    const reply = fill(sizes.reply);
    const published = fill(sizes.publish);
    b.subscribe('limit.rr', { callback: (_e, m) => m.respond(reply) });
    let received = 0;
    b.subscribe('limit.pub', { callback: () => void received++ });
    await b.flush();

    // every request by the path the implementation sends it (agents/transport/requests.ts),
    // as the JetStream writes below: nats.js's `request` would add its own overhead to each
    const requests = Requests.for(a);
    const requestUs = await cpuPerOp(server.pid, n, () => requests.request('limit.rr', request, 5000));
    const requestServer = lastServerShare * requestUs;
    const requestLatencyUs = (await measure(() => requests.request('limit.rr', request, 5000), { minRuns: 200, minMs: 200 })).medianMs * 1000;
    // a publish is done when the subscriber has it; batches of 100, as a party publishes and moves on
    const publishCost = async (data: Uint8Array) =>
      (await cpuPerOp(server.pid, n / 100, async () => {
        const want = received + 100;
        for (let i = 0; i < 100; i++) a.publish('limit.pub', data);
        await a.flush();
        while (received < want) await new Promise((r) => setImmediate(r));
      })) / 100;
    const publishUs = await publishCost(published);
    const publishServer = lastServerShare * publishUs;
    const deliveryUs = await publishCost(fill(sizes.delivery));
    const deliveryServer = lastServerShare * deliveryUs;

    const jsm = await a.jetstreamManager();
    await jsm.streams.add({ name: 'LIMIT', subjects: ['limit.js.>'] });
    const js = a.jetstream();
    const write = fill(sizes.jsWrite);
    // by the cheapest client path there is, the one the implementation uses (plain publish
    // awaiting the PubAck): nats.js's js.publish would price every write with its overhead
    const replies = new JetStreamReplies(a, 'stream LIMIT');
    const jsWriteUs = await cpuPerOp(server.pid, n, (i) => replies.publish(`limit.js.${i % 50}`, write));
    const jsWriteServer = lastServerShare * jsWriteUs;
    const kv = await js.views.kv('limit_read');
    await kv.put('key', fill(sizes.jsRead));
    const reads = new KvClient(a, 'limit_read');
    const jsReadUs = await cpuPerOp(server.pid, n, () => reads.get('key'));
    return { requestUs, publishUs, deliveryUs, jsWriteUs, jsReadUs, requestLatencyUs, sizes, serverUs: { request: requestServer, publish: publishServer, delivery: deliveryServer, jsWrite: jsWriteServer } };
  } finally {
    await Promise.allSettled(conns.map((c) => c.close()));
    await server.stop();
  }
}
