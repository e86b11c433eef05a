/**
 * Hostile variants of real messages, for the fuzz suites. A mutation is plain data (so
 * fast-check can generate, print and shrink it) naming what to do at which node of a JSON
 * value; `at` is a selector taken modulo the number of candidate nodes of that kind, so any
 * number picks some node. Nothing here knows Parley's schemas: the same mutations are
 * thrown at every message type.
 */
import fc from 'fast-check';
import { bigintToB64u, toB64u } from '../../crypto/bytes.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Path = Array<string | number>;

/** `field`, when given, confines the mutation to nodes under that key (hand-picked cases). */
export type Mutation = (
  | { k: 'drop'; at: number }
  | { k: 'add'; at: number; key: string; value: Json }
  | { k: 'replace'; at: number; value: Json }
  | { k: 'flip'; at: number; bit: number }
  | { k: 'bigint'; at: number; which: '0' | '1' | 'n-1' | 'n' | 'n+1' | '2^4096' | 'leading-zero' }
  | { k: 'badb64'; at: number; how: 'pad' | 'plus' | 'space' | 'odd' | 'empty' | 'non-ascii' }
  | { k: 'oversize'; at: number; size: 'field' | 'just-under-1MiB' }
  | { k: 'nest'; at: number; depth: number }
  | { k: 'version'; at: number; value: Json }
  | { k: 'time'; at: number; to: 'hour-ago' | 'year-ago' | 'far-future' | 'year-0' | 'not-a-date' }
  | { k: 'canon'; at: number; how: 'spaces' | 'reorder' | 'escapes' }
  | { k: 'party'; at: number; party: number }
) & { field?: string };

/** Values of every JSON type, including strings with any code unit (lone surrogates too). */
export const anyJson: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) as fc.Arbitrary<Json>;

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), at: fc.nat(), key: fc.string({ maxLength: 8 }), value: anyJson }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('replace' as const), at: fc.nat(), value: anyJson }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('party' as const), at: fc.nat(), party: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('bigint' as const), at: fc.nat(), which: fc.constantFrom('0', '1', 'n-1', 'n', 'n+1', '2^4096', 'leading-zero') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('badb64' as const), at: fc.nat(), how: fc.constantFrom('pad', 'plus', 'space', 'odd', 'empty', 'non-ascii') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('oversize' as const), at: fc.nat(), size: fc.constantFrom('field', 'just-under-1MiB') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('nest' as const), at: fc.nat(), depth: fc.constantFrom(33, 200, 20_000) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('version' as const), at: fc.nat(), value: fc.constantFrom<Json>(2, 0, '1', 1.5, null) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('time' as const), at: fc.nat(), to: fc.constantFrom('hour-ago', 'year-ago', 'far-future', 'year-0', 'not-a-date') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('canon' as const), at: fc.nat(), how: fc.constantFrom('spaces', 'reorder', 'escapes') }) },
);

/** Every node of `v` with its path (the root included), in document order. */
export function nodes(v: Json, path: Path = [], out: Array<[Path, Json]> = []): Array<[Path, Json]> {
  out.push([path, v]);
  if (Array.isArray(v)) v.forEach((c, i) => nodes(c, [...path, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) nodes(c, [...path, k], out);
  return out;
}

export function getAt(v: Json, path: Path): Json {
  let cur: Json = v;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p]!;
  return cur;
}

/** A copy of `v` with the node at `path` replaced (or removed, for `undefined`). */
export function setAt(v: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value === undefined ? null : value;
  const [head, ...rest] = path;
  if (Array.isArray(v)) {
    const copy = [...v];
    if (rest.length === 0 && value === undefined) copy.splice(head as number, 1);
    else copy[head as number] = setAt(v[head as number]!, rest, value);
    return copy;
  }
  const o = { ...(v as Record<string, Json>) };
  if (rest.length === 0 && value === undefined) delete o[head as string];
  else o[head as string] = setAt(o[head as string]!, rest, value);
  return o;
}

const B64U = /^[A-Za-z0-9_-]{2,}$/;
const ISO = /^\d{4}-\d\d-\d\dT/;
const PARTY = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function b64uJsonObject(s: string): Json | undefined {
  if (!B64U.test(s) || s.length < 4) return undefined;
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Json;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function pick<T>(list: T[], at: number): T | undefined {
  return list.length ? list[at % list.length] : undefined;
}

const DEEP_AS_TEXT = 1000;
const NEST_MARK = '~~nest~~';

/** Replaces the markers of very deep nesting in serialised JSON by the nested text itself. */
export function expandNesting(text: string): string {
  return text.replace(/"~~nest~~(\d+)"/g, (_m, d: string) => '['.repeat(Number(d)) + ']'.repeat(Number(d)));
}

/** JSON text with whitespace, reversed key order or \u escapes: the same value, other bytes. */
export function reframe(v: Json, how: 'spaces' | 'reorder' | 'escapes'): string {
  if (how === 'spaces') return JSON.stringify(v, null, 3).replace(/":/g, '" :');
  if (how === 'escapes') return JSON.stringify(v).replace(/"([a-z])/g, (_m, c: string) => `"\\u00${c.charCodeAt(0).toString(16)}`);
  const rev = (x: Json): Json => (Array.isArray(x) ? x.map(rev) : x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).reverse().map(([k, c]) => [k, rev(c)])) : x);
  return JSON.stringify(rev(v));
}

export interface MutationContext {
  /** the RSA modulus of the session key, for big-integer edge cases */
  n: bigint;
  /** ids of real parties, swapped in for one another */
  parties: string[];
  /** serialised size of the whole message, to stay just under the 1 MiB NATS limit */
  messageSize: number;
}

/**
 * Applies `m` to `v`; undefined when `v` has no node the mutation applies to. `nodes` are
 * taken from `scope` (a path inside `v`), so the caller can confine mutations to a body.
 */
export function mutate(v: Json, m: Mutation, ctx: MutationContext, scope: Path = []): Json | undefined {
  const all = nodes(getAt(v, scope))
    .map(([p, x]) => [[...scope, ...p], x] as [Path, Json])
    .filter(([p]) => m.field === undefined || p[p.length - 1] === m.field);
  const strings = all.filter(([, x]) => typeof x === 'string') as Array<[Path, string]>;
  const b64 = strings.filter(([, x]) => B64U.test(x));
  switch (m.k) {
    case 'drop': {
      const t = pick(all.filter(([p]) => p.length > scope.length), m.at);
      return t && setAt(v, t[0], undefined);
    }
    case 'add': {
      const t = pick(all.filter(([, x]) => x !== null && typeof x === 'object'), m.at);
      if (!t) return undefined;
      const container = t[1];
      if (Array.isArray(container)) return setAt(v, t[0], [...container, m.value]);
      return setAt(v, [...t[0], m.key in (container as object) ? `${m.key}_x` : m.key], m.value);
    }
    case 'replace': {
      const t = pick(all.filter(([p]) => p.length > scope.length), m.at);
      return t && setAt(v, t[0], m.value);
    }
    case 'flip': {
      const t = pick(b64, m.at);
      if (!t) return undefined;
      const b = Buffer.from(t[1], 'base64url');
      if (b.length === 0) return undefined;
      b[Math.floor(m.bit / 8) % b.length]! ^= 1 << (m.bit % 8);
      return setAt(v, t[0], b.toString('base64url'));
    }
    case 'bigint': {
      const t = pick(b64, m.at);
      if (!t) return undefined;
      const values: Record<typeof m.which, string> = {
        '0': 'AA',
        '1': 'AQ',
        'n-1': bigintToB64u(ctx.n - 1n),
        n: bigintToB64u(ctx.n),
        'n+1': bigintToB64u(ctx.n + 1n),
        '2^4096': bigintToB64u(1n << 4096n),
        'leading-zero': toB64u(Buffer.concat([Buffer.from([0]), Buffer.from(t[1], 'base64url')])),
      };
      return setAt(v, t[0], values[m.which]);
    }
    case 'badb64': {
      const t = pick(b64, m.at);
      if (!t) return undefined;
      const s = t[1];
      const bad = { pad: s + '==', plus: s.replace(/[-_A]/, '+'), space: `${s.slice(0, 3)} ${s.slice(3)}`, odd: s + 'A'.repeat((5 - (s.length % 4)) % 4 || 4), empty: '', 'non-ascii': s.slice(0, 2) + 'é' + s.slice(2) }[m.how];
      return setAt(v, t[0], bad);
    }
    case 'oversize': {
      const t = pick(strings.length ? strings : all, m.at);
      if (!t) return undefined;
      const size = m.size === 'field' ? 300_000 : Math.max(1000, 1024 * 1024 - ctx.messageSize - 4096);
      return setAt(v, t[0], 'A'.repeat(size));
    }
    case 'nest': {
      const t = pick(all, m.at);
      if (!t) return undefined;
      // very deep documents exist only as text (JSON.stringify itself would overflow): a marker
      // that `expandNesting` replaces after serialisation
      if (m.depth > DEEP_AS_TEXT) return setAt(v, t[0], `${NEST_MARK}${m.depth}`);
      let deep: Json = t[1];
      for (let i = 0; i < m.depth; i++) deep = i % 2 ? [deep] : { a: deep };
      return setAt(v, t[0], deep);
    }
    case 'version': {
      const t = pick(all.filter(([p]) => p[p.length - 1] === 'v' || p[p.length - 1] === 'kind'), m.at);
      return t && setAt(v, t[0], m.value);
    }
    case 'time': {
      const t = pick(strings.filter(([, x]) => ISO.test(x)), m.at);
      if (!t) return undefined;
      const now = Date.now();
      const to = { 'hour-ago': new Date(now - 3600_000).toISOString(), 'year-ago': new Date(now - 366 * 86400_000).toISOString(), 'far-future': new Date(now + 400 * 86400_000).toISOString(), 'year-0': '0000-01-01T00:00:00.000Z', 'not-a-date': '2026-13-45T99:99:99Z' }[m.to];
      return setAt(v, t[0], to);
    }
    case 'party': {
      const t = pick(strings.filter(([, x]) => PARTY.test(x)), m.at);
      const id = pick(ctx.parties, m.party);
      return t && id !== undefined ? setAt(v, t[0], id === t[1] ? `${id}x` : id) : undefined;
    }
    case 'canon': {
      // base64url of JSON (a contract payload, a JWS header): the same value, encoded differently
      const t = pick(
        b64.filter(([, x]) => b64uJsonObject(x) !== undefined),
        m.at,
      );
      if (!t) return undefined;
      return setAt(v, t[0], Buffer.from(reframe(b64uJsonObject(t[1])!, m.how), 'utf8').toString('base64url'));
    }
  }
}
