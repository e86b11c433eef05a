/**
 * The escrow of a session — d2 and the buyer's rules — encrypted at rest under the
 * session's own key (HKDF of the master key with the SN), bound to the SN by the AAD.
 */
import { b64uToBigint, bigintToB64u, fromB64u, fromUtf8, toB64u, utf8 } from '../crypto/bytes.js';
import { atRestAad, decryptAtRest, deriveSessionKey, encryptAtRest } from '../crypto/at-rest.js';
import { canonicalJson } from '../crypto/canonical.js';
import { compileRules, parseRules, type CompiledRules, type Rules } from '../protocol/rules.js';
import { parleyError } from '../protocol/errors.js';
import type { HomeContext } from './context.js';
import { parseStrictJson } from '../crypto/strict-json.js';

export interface Escrow {
  d2: bigint;
  rules: Rules;
}

export async function storeEscrow(ctx: HomeContext, sn: string, escrow: Escrow): Promise<void> {
  const key = deriveSessionKey(ctx.secrets.masterKey, sn);
  const blob = encryptAtRest(key, utf8(canonicalJson({ d2: bigintToB64u(escrow.d2), rules: escrow.rules })), atRestAad('escrow', sn));
  if (!(await ctx.state.createOnce(ctx.state.escrow, sn, { blob: toB64u(blob) }))) throw parleyError('ERR_CONFLICT', `escrow for ${sn} exists already`);
}

export async function loadEscrow(ctx: HomeContext, sn: string): Promise<Escrow> {
  const rec = await ctx.state.read<{ blob: string }>(ctx.state.escrow, sn);
  if (!rec) throw parleyError('ERR_SESSION_UNKNOWN', `no escrow for session ${sn}`);
  const key = deriveSessionKey(ctx.secrets.masterKey, sn);
  const j = parseStrictJson(fromUtf8(decryptAtRest(key, fromB64u(rec.blob, 'escrow'), atRestAad('escrow', sn)))) as { d2: string; rules: unknown };
  return { d2: b64uToBigint(j.d2, 'd2'), rules: parseRules(j.rules) };
}

export async function sessionRules(ctx: HomeContext, sn: string): Promise<CompiledRules> {
  let r = ctx.rulesCache.get(sn);
  if (!r) {
    r = compileRules((await loadEscrow(ctx, sn)).rules);
    if (ctx.rulesCache.size > 1000) ctx.rulesCache.clear();
    ctx.rulesCache.set(sn, r);
  }
  return r;
}
