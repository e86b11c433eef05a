/**
 * The contracts a store signed, as `parley store contracts` lists them: one summary per
 * exchange, read from the store's data directory (no daemon needed).
 */
import { existsSync } from 'node:fs';
import type { ContractState } from './files.js';
import { StoreFiles } from './files.js';

export interface ContractSummary {
  contractId: string;
  state: ContractState;
  sn: string;
  buyer: string;
  home: string;
  item: string;
  quantity: number;
  /** unit price */
  price: number;
  currency: string;
  deliveryDays: number;
  warrantyMonths: number;
  countersignedAt: string;
  completeBy: string;
  exchangeDeadline: string;
  updated: string;
  /** the complete contract (general JWS JSON, checkable with `parley verify`), once there is one */
  contractFile?: string;
  /** the last resolve failure, while the store is still retrying */
  lastError?: { code: string; message: string };
}

/** Every exchange in `dataDir`, oldest first. */
export function listContracts(dataDir: string): ContractSummary[] {
  const files = new StoreFiles(dataDir);
  const out: ContractSummary[] = [];
  for (const id of files.contractIds()) {
    const r = files.contract(id);
    if (!r) continue;
    const jws = files.jwsPath(id);
    out.push({
      contractId: r.contractId,
      state: r.state,
      sn: r.sn,
      buyer: r.buyer,
      home: r.home,
      item: r.terms.item,
      quantity: r.terms.quantity,
      price: r.terms.price,
      currency: r.terms.currency,
      deliveryDays: r.terms.deliveryDays,
      warrantyMonths: r.terms.warrantyMonths,
      countersignedAt: r.countersignedAt,
      completeBy: r.completeBy,
      exchangeDeadline: r.exchangeDeadline,
      updated: r.updated,
      ...((r.state === 'complete' || r.state === 'resolved') && existsSync(jws) ? { contractFile: jws } : {}),
      ...(r.state === 'countersigned' && r.lastError ? { lastError: r.lastError } : {}),
    });
  }
  return out.sort((a, b) => a.countersignedAt.localeCompare(b.countersignedAt) || a.contractId.localeCompare(b.contractId));
}
