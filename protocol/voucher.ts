/**
 * The voucher Vou_C = Sign_AH(voucher, {SN, n, e, e1, T_C, …}): the Agent Home's statement
 * that it escrows the d2 matching (n, e, e1) for session SN, which lets anyone check a
 * partial signature SG1 with e1. Its failures all carry ERR_VOUCHER_INVALID.
 */
import { z } from 'zod';
import { b64uToBigint, bigintToB64u } from '../crypto/bytes.js';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { ParleyError } from '../crypto/errors.js';
import { parleyError } from './errors.js';
import { bigIntB64u, checkSchema, isoTime, partyId } from './wire.js';

export const VOUCHER_TYPE = 'voucher';
export const SN_RE = /^[0-9a-f]{32}$/;
export const sessionNumber = z.string().regex(SN_RE, 'must be a 128-bit hex session number');

export const VoucherSchema = z.strictObject({
  sn: sessionNumber,
  home: partyId,
  n: bigIntB64u(512),
  e: bigIntB64u(8),
  e1: bigIntB64u(16),
  /** T_C: negotiation deadline */
  deadline: isoTime,
  /** last moment an exchange deadline may be set to (resolve is refused after it) */
  signBy: isoTime,
});
export type VoucherBody = z.infer<typeof VoucherSchema>;
export type Voucher = SignedObject<VoucherBody>;

export interface VoucherValues {
  sn: string;
  home: string;
  n: bigint;
  e: bigint;
  e1: bigint;
  deadline: Date;
  signBy: Date;
}

export function issueVoucher(v: VoucherValues, homeSecretKey: Uint8Array): Voucher {
  const body: VoucherBody = {
    sn: v.sn,
    home: v.home,
    n: bigintToB64u(v.n),
    e: bigintToB64u(v.e),
    e1: bigintToB64u(v.e1),
    deadline: v.deadline.toISOString(),
    signBy: v.signBy.toISOString(),
  };
  return signObject(VOUCHER_TYPE, body, homeSecretKey);
}

/** Verifies a voucher with the Agent Home's public key and returns its values. */
export function openVoucher(voucher: unknown, homePublicKey: Uint8Array): VoucherValues {
  let body: VoucherBody;
  try {
    body = checkSchema(VoucherSchema, openSignedObject(voucher, VOUCHER_TYPE, homePublicKey), 'voucher');
    return {
      sn: body.sn,
      home: body.home,
      n: b64uToBigint(body.n, 'n'),
      e: b64uToBigint(body.e, 'e'),
      e1: b64uToBigint(body.e1, 'e1'),
      deadline: new Date(body.deadline),
      signBy: new Date(body.signBy),
    };
  } catch (e) {
    const code = e instanceof ParleyError ? e.code : 'ERR_INTERNAL';
    throw parleyError('ERR_VOUCHER_INVALID', `voucher rejected (${code}): ${(e as Error).message}`, e);
  }
}
