/**
 * A merchant's sales offer (PROTOCOL.md, "Sales Agent"):
 *   MSG = {SN, merchant, contract template, k, expiry}
 *   SG_MSG = Sign_S(sales-offer, {SN, MSG, K[1]})
 * K[1] commits the merchant to its ordered bid list B[1..k] (crypto/hashchain.ts), so every
 * revealed bid is one it committed to, in order, and cannot deny later.
 */
import { z } from 'zod';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { ParleyError } from '../crypto/errors.js';
import { assertPrefix, keyFromB64u, revealFromWire, type WireBidReveal } from '../crypto/hashchain.js';
import { BidSchema, ContractTemplateSchema, type Bid } from './commerce.js';
import { parleyError } from './errors.js';
import { checkSchema, isoTime, partyId, signedObject } from './wire.js';
import { sessionNumber } from './voucher.js';
import { hash32 } from './session.js';

export const SALES_OFFER_TYPE = 'sales-offer';
export const MAX_BIDS_PER_OFFER = 1000;

export const SalesMessageSchema = z.strictObject({
  sn: sessionNumber,
  merchant: partyId,
  template: ContractTemplateSchema,
  k: z.number().int().min(1).max(MAX_BIDS_PER_OFFER),
  expiry: isoTime,
});
export type SalesMessage = z.infer<typeof SalesMessageSchema>;

export const SalesOfferSchema = z.strictObject({ sn: sessionNumber, msg: SalesMessageSchema, k1: hash32 });
export type SalesOfferBody = z.infer<typeof SalesOfferSchema>;
export const SignedSalesOfferSchema = signedObject(SALES_OFFER_TYPE, SalesOfferSchema);
export type SalesOffer = SignedObject<SalesOfferBody>;

export const WireRevealSchema = z.strictObject({ bid: BidSchema, next: hash32 });

export function signSalesOffer(body: SalesOfferBody, merchantSecretKey: Uint8Array): SalesOffer {
  return signObject(SALES_OFFER_TYPE, checkSchema(SalesOfferSchema, body, 'sales offer'), merchantSecretKey);
}

/** Verifies SG_MSG with the merchant's key and its internal consistency; ERR_SALES_OFFER_INVALID. */
export function openSalesOffer(offer: unknown, merchantId: string, merchantPublicKey: Uint8Array): SalesOfferBody {
  let body: SalesOfferBody;
  try {
    body = checkSchema(SalesOfferSchema, openSignedObject(offer, SALES_OFFER_TYPE, merchantPublicKey), 'sales offer');
  } catch (e) {
    throw parleyError('ERR_SALES_OFFER_INVALID', `sales offer rejected (${e instanceof ParleyError ? e.code : 'error'}): ${(e as Error).message}`, e);
  }
  if (body.msg.sn !== body.sn) throw parleyError('ERR_SALES_OFFER_INVALID', 'MSG names another session than the offer');
  if (body.msg.merchant !== merchantId) throw parleyError('ERR_SALES_OFFER_INVALID', `offer is for merchant ${body.msg.merchant}, signed by ${merchantId}`);
  return body;
}

/** The proof of an agreed bid: the signed offer and the revealed prefix B[1..i] with K[2..i+1]. */
export const BidProofSchema = z.strictObject({
  offer: SignedSalesOfferSchema,
  reveals: z.array(WireRevealSchema).min(1).max(MAX_BIDS_PER_OFFER),
});
export type BidProof = z.infer<typeof BidProofSchema>;

/**
 * Checks a bid proof against the merchant's key: the offer's signature and the revealed
 * prefix against K[1]. Returns the last revealed bid (the agreed one) and its index.
 */
export function verifyBidProof(proof: BidProof, merchantId: string, merchantPublicKey: Uint8Array): { offer: SalesOfferBody; bid: Bid; index: number } {
  const offer = openSalesOffer(proof.offer, merchantId, merchantPublicKey);
  if (proof.reveals.length > offer.msg.k) throw parleyError('ERR_COMMITMENT_INVALID', `proof reveals ${proof.reveals.length} bids of a list of ${offer.msg.k}`);
  assertPrefix(keyFromB64u(offer.k1, 'K[1]'), proof.reveals.map((r: WireBidReveal) => revealFromWire(r)), offer.msg.k);
  const last = proof.reveals[proof.reveals.length - 1]!;
  return { offer, bid: last.bid, index: proof.reveals.length };
}
