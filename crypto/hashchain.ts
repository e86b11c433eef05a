/**
 * Hash-chain commitments to a merchant's ordered bid list (PROTOCOL.md, "Sales Agent" and
 * "Phase 2"). For bids B[1..k]:
 *
 *   K[k+1] = 32 random bytes
 *   K[i]   = SHA-256(utf8("parley/bid") ‖ canonical(B[i]) ‖ K[i+1])      for i = k..1
 *
 * canonical() is RFC 8785 JSON. The merchant signs K[1] (the root); in round i its Sales
 * Agent reveals (B[i], K[i+1]) and the Negotiation Agent recomputes K[i]. Because SHA-256
 * is preimage- and collision-resistant, every revealed bid is one the merchant committed
 * to, in its committed order, and the unrevealed rest stays hidden behind K[i+1]. Key
 * comparisons are constant time (`equalBytes`, or a loop over all bytes that never exits
 * early).
 */
import { sha256, sha256Binary } from './hash.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { canonicalJson, type JsonValue } from './canonical.js';
import { equalBytes, fromB64u, toB64u, utf8 } from './bytes.js';
import { cryptoError } from './errors.js';

export type { JsonValue } from './canonical.js';

/** Length of every chain key K[i]. */
export const BID_KEY_LENGTH = 32;
/** Largest bid list one commitment may hold. */
export const MAX_BIDS = 10_000;
const BID_TAG = utf8('parley/bid');

export interface BidCommitment {
  /** K[1], the value the merchant signs. */
  root: Uint8Array;
  /** K[1..k+1]: keys[0] = K[1], keys[k] = K[k+1]. Secret until revealed. */
  keys: Uint8Array[];
  /** Number of bids. */
  k: number;
}

/** What the Sales Agent reveals in round i: B[i] and K[i+1]. */
export interface BidReveal {
  bid: JsonValue;
  next: Uint8Array;
}

/** A reveal as it travels in JSON: the key is base64url. */
export interface WireBidReveal {
  bid: JsonValue;
  next: string;
}

function isKey(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === BID_KEY_LENGTH;
}

function assertKey(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== BID_KEY_LENGTH) throw new TypeError(`${name} must be ${BID_KEY_LENGTH} bytes, got ${value.length}`);
}

function checkCount(k: unknown, name: string): asserts k is number {
  if (typeof k !== 'number' || !Number.isInteger(k)) throw new TypeError(`${name} must be an integer`);
  if (k < 1 || k > MAX_BIDS) throw cryptoError('ERR_INVALID_INPUT', `${name} must be between 1 and ${MAX_BIDS}, got ${k}`);
}

/**
 * The hashed input "parley/bid" ‖ utf8(text) ‖ next is assembled in one reused buffer (the
 * tag stays at its start) and hashed in one call: the Negotiation Agent links every revealed
 * bid, and a fresh hash object and three buffers per link cost more than the hash itself.
 * The buffer briefly holds K[i+1], which the reveal makes public anyway.
 */
let linkInput = new Uint8Array(512);
/** the part of linkInput after the tag, where the bid's text goes */
let linkText = linkInput.subarray(BID_TAG.length);
linkInput.set(BID_TAG);
const encoder = new TextEncoder();

/** "parley/bid" ‖ utf8(text) ‖ next, in the shared buffer; `text` is canonical JSON (well-formed UTF-16). */
function linkInputOf(text: string, next: Uint8Array): Uint8Array {
  // a UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair, 2 units, takes 4)
  const room = BID_TAG.length + 3 * text.length + BID_KEY_LENGTH;
  if (linkInput.length < room) {
    linkInput = new Uint8Array(2 * room);
    linkText = linkInput.subarray(BID_TAG.length);
    linkInput.set(BID_TAG);
  }
  const n = BID_TAG.length + encoder.encodeInto(text, linkText).written;
  linkInput.set(next, n);
  return linkInput.subarray(0, n + BID_KEY_LENGTH);
}

/**
 * Whether SHA-256("parley/bid" ‖ utf8(text) ‖ next) equals `expected`, comparing the digest
 * as a 'binary' string (cheaper than a Buffer here) over all 32 bytes whatever they hold:
 * like `equalBytes`, it never stops at the first difference.
 */
function linkMatches(text: string, next: Uint8Array, expected: Uint8Array): boolean {
  const digest = sha256Binary(linkInputOf(text, next));
  if (digest.length !== BID_KEY_LENGTH || expected.length !== BID_KEY_LENGTH) return false;
  let diff = 0;
  for (let i = 0; i < BID_KEY_LENGTH; i++) diff |= digest.charCodeAt(i) ^ expected[i]!;
  return diff === 0;
}

/** K[i] = SHA-256("parley/bid" ‖ canonical(bid) ‖ next). Throws ERR_INVALID_INPUT for a non-JSON bid. */
export function bidLink(bid: JsonValue, next: Uint8Array): Uint8Array {
  assertKey(next, 'next');
  return sha256(linkInputOf(canonicalJson(bid), next));
}

/** Commits to `bids` (most favourable to the merchant first) under a fresh random K[k+1]. */
export function commitBids(bids: JsonValue[]): BidCommitment {
  if (!Array.isArray(bids)) throw new TypeError('bids must be an array');
  const k = bids.length;
  if (k < 1 || k > MAX_BIDS) throw cryptoError('ERR_INVALID_INPUT', `bids must hold between 1 and ${MAX_BIDS} bids, got ${k}`);
  const keys = new Array<Uint8Array>(k + 1);
  keys[k] = randomBytes(BID_KEY_LENGTH);
  for (let i = k - 1; i >= 0; i--) {
    try {
      keys[i] = bidLink(bids[i] as JsonValue, keys[i + 1] as Uint8Array);
    } catch (e) {
      throw cryptoError('ERR_INVALID_INPUT', `bid ${i + 1} is not canonicalisable JSON`, e);
    }
  }
  return { root: keys[0] as Uint8Array, keys, k };
}

/**
 * The reveal for round `i` (1-based, as in the protocol): {B[i], K[i+1]}. Checks that
 * `bids` is the list the commitment was made over, so a Sales Agent never reveals a bid
 * the Negotiation Agent would refuse.
 */
export function revealAt(commitment: BidCommitment, bids: JsonValue[], i: number): BidReveal {
  if (typeof commitment !== 'object' || commitment === null || !Array.isArray(commitment.keys)) {
    throw new TypeError('commitment must be a BidCommitment');
  }
  checkCount(commitment.k, 'commitment.k');
  if (commitment.keys.length !== commitment.k + 1) throw new TypeError('commitment.keys must hold k + 1 keys');
  if (!Array.isArray(bids)) throw new TypeError('bids must be an array');
  if (bids.length !== commitment.k) throw cryptoError('ERR_INVALID_INPUT', `bids holds ${bids.length} bids, the commitment ${commitment.k}`);
  if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError('i must be an integer');
  if (i < 1 || i > commitment.k) throw cryptoError('ERR_COMMITMENT_INVALID', `bid ${i} is outside 1..${commitment.k}`);
  const expected = commitment.keys[i - 1];
  const next = commitment.keys[i];
  assertKey(expected, `commitment.keys[${i - 1}]`);
  assertKey(next, `commitment.keys[${i}]`);
  const bid = bids[i - 1] as JsonValue;
  if (!verifyReveal(expected, bid, next)) throw cryptoError('ERR_COMMITMENT_INVALID', `bid ${i} is not the one committed to`);
  return { bid, next: next.slice() };
}

/** True when SHA-256("parley/bid" ‖ canonical(bid) ‖ next) equals `expected` (K[i]). Never throws. */
export function verifyReveal(expected: Uint8Array, bid: JsonValue, next: Uint8Array): boolean {
  if (!isKey(expected) || !isKey(next)) return false;
  let link: Uint8Array;
  try {
    link = bidLink(bid, next);
  } catch {
    return false;
  }
  return equalBytes(link, expected);
}

/**
 * Checks a revealed prefix B[1..j] with each K[i+1] against the signed root, link by link
 * in order. Throws ERR_COMMITMENT_INVALID naming the first failing (1-based) index. An
 * empty prefix proves nothing and is refused; with `k`, a prefix longer than k is too.
 */
export function assertPrefix(root: Uint8Array, reveals: readonly BidReveal[], k?: number): void {
  if (!isKey(root)) throw cryptoError('ERR_COMMITMENT_INVALID', `root must be ${BID_KEY_LENGTH} bytes`);
  if (k !== undefined) checkCount(k, 'k');
  const limit = k ?? MAX_BIDS;
  if (!Array.isArray(reveals)) throw cryptoError('ERR_COMMITMENT_INVALID', 'reveals must be an array');
  if (reveals.length === 0) throw cryptoError('ERR_COMMITMENT_INVALID', 'an empty prefix proves nothing');
  if (reveals.length > limit) throw cryptoError('ERR_COMMITMENT_INVALID', `prefix of ${reveals.length} bids is longer than ${limit}`);
  let expected = root;
  for (let i = 0; i < reveals.length; i++) {
    const r: unknown = reveals[i];
    if (typeof r !== 'object' || r === null) throw cryptoError('ERR_COMMITMENT_INVALID', `reveal ${i + 1} is not an object`);
    const { bid, next } = r as { bid: JsonValue; next: unknown };
    if (!isKey(next) || !verifyReveal(expected, bid, next)) {
      throw cryptoError('ERR_COMMITMENT_INVALID', `bid ${i + 1} does not match the commitment`);
    }
    expected = next;
  }
}

/** Boolean form of `assertPrefix`; never throws. */
export function verifyPrefix(root: Uint8Array, reveals: readonly BidReveal[], k?: number): boolean {
  try {
    assertPrefix(root, reveals, k);
    return true;
  } catch {
    return false;
  }
}

/**
 * Follows a negotiation round by round: holds the expected K[i], checks each reveal
 * against it and advances only when it matches. A failed reveal leaves the state as it was.
 * Accepted bids are kept as canonical copies, so later changes to the caller's objects
 * cannot alter the recorded proof.
 */
export class RevealVerifier {
  readonly root: Uint8Array;
  readonly k: number;
  #expected: Uint8Array;
  /** each accepted bid as its canonical text (what was hashed), parsed only when asked for */
  #reveals: Array<{ text: string; next: Uint8Array }> = [];

  constructor(root: Uint8Array, k: number) {
    assertKey(root, 'root');
    checkCount(k, 'k');
    this.root = root.slice();
    this.k = k;
    this.#expected = this.root;
  }

  /** Number of bids accepted so far; the last accepted bid is B[index]. */
  get index(): number {
    return this.#reveals.length;
  }

  /** True once all k bids have been revealed. */
  get exhausted(): boolean {
    return this.#reveals.length >= this.k;
  }

  /**
   * Checks (B[index+1], K[index+2]) and advances. Throws ERR_COMMITMENT_INVALID for a bid
   * that does not match, or for any reveal after the k-th. Returns the new index.
   */
  next(bid: JsonValue, nextKey: Uint8Array): number {
    const i = this.#reveals.length + 1;
    if (i > this.k) throw cryptoError('ERR_COMMITMENT_INVALID', `all ${this.k} committed bids have been revealed`);
    // Canonicalise once: the hashed text and the recorded copy are the same bytes.
    let text: string | undefined;
    try {
      text = canonicalJson(bid);
    } catch {
      text = undefined;
    }
    if (text === undefined || !isKey(nextKey) || !linkMatches(text, nextKey, this.#expected)) {
      throw cryptoError('ERR_COMMITMENT_INVALID', `bid ${i} does not match the commitment`);
    }
    const key = nextKey.slice();
    this.#reveals.push({ text, next: key });
    this.#expected = key;
    return i;
  }

  /** The verified prefix B[1..index] with each K[i+1], as `assertPrefix` takes it (copies). */
  prefix(): BidReveal[] {
    return this.#reveals.map((r) => ({ bid: JSON.parse(r.text) as JsonValue, next: r.next.slice() }));
  }
}

// --- wire encoding ------------------------------------------------------------------

/** A chain key as base64url. */
export function keyToB64u(key: Uint8Array): string {
  assertKey(key, 'key');
  return toB64u(key);
}

/** base64url to a chain key; ERR_ENCODING unless it decodes to exactly 32 bytes. */
export function keyFromB64u(s: string, what = 'key'): Uint8Array {
  const b = fromB64u(s, what);
  if (b.length !== BID_KEY_LENGTH) throw cryptoError('ERR_ENCODING', `${what} must be ${BID_KEY_LENGTH} bytes`);
  return b;
}

export function revealToWire(reveal: BidReveal): WireBidReveal {
  if (typeof reveal !== 'object' || reveal === null) throw new TypeError('reveal must be an object');
  return { bid: reveal.bid, next: keyToB64u(reveal.next) };
}

/** Parses a reveal received from the wire: ERR_INVALID_INPUT for a wrong shape, ERR_ENCODING for a bad key. */
export function revealFromWire(value: unknown): BidReveal {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw cryptoError('ERR_INVALID_INPUT', 'reveal must be an object');
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'bid,next') throw cryptoError('ERR_INVALID_INPUT', `reveal must have exactly bid and next (got ${keys})`);
  if (typeof o.next !== 'string') throw cryptoError('ERR_INVALID_INPUT', 'reveal.next must be a string');
  return { bid: o.bid as JsonValue, next: keyFromB64u(o.next, 'reveal.next') };
}
