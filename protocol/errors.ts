/**
 * The closed catalogue of error codes Parley can put on the wire: the crypto layer's codes
 * plus the protocol's. Codes are never renamed or reused once shipped. Errors cross the
 * wire as `{code, message}` and are rebuilt with `errorFromWire` on receipt.
 */
import { CRYPTO_ERROR_CODES, ParleyError } from '../crypto/errors.js';

export { ParleyError, isParleyError } from '../crypto/errors.js';

export const PROTOCOL_ERROR_CODES = {
  ERR_USAGE: 'command-line usage error',
  ERR_INTERNAL: 'internal error',
  ERR_CONFIG: 'configuration is invalid',
  ERR_ALREADY_RUNNING: 'a daemon already runs on this data directory',
  // transport
  ERR_NATS_SERVER_MISSING: 'nats-server is not installed',
  ERR_NATS_SERVER_START: 'nats-server could not be started',
  ERR_NATS_CONNECT: 'cannot connect to NATS',
  ERR_TIMEOUT: 'no answer in time',
  ERR_UNAVAILABLE: 'no service is answering on that subject',
  ERR_REPLY_SUBJECT: "request refused: its reply subject is not the requester's own inbox",
  // message checking at every boundary
  ERR_MESSAGE_TOO_LARGE: 'message exceeds the size limit',
  ERR_MALFORMED_MESSAGE: 'message is not valid JSON',
  ERR_SCHEMA: 'message does not match its schema',
  ERR_WRONG_ROLE: 'signer does not hold the role this message needs',
  ERR_REPLAY: 'message was already processed',
  ERR_STALE: 'message timestamp is outside the accepted window',
  ERR_DEADLINE_PASSED: 'deadline has passed',
  ERR_NOT_FOUND: 'no such object',
  ERR_FORBIDDEN: 'not allowed for this party',
  ERR_CONFLICT: 'state changed concurrently; retry',
  // mobile agents
  ERR_AGENT_HEADER_INVALID: 'agent header signature does not verify',
  ERR_AGENT_EXPIRED: 'agent has expired',
  ERR_AGENT_KIND: 'no handler for this agent kind',
  ERR_AGENT_NOT_ADDRESSED: 'agent is not addressed to this host',
  ERR_VISIT_LOG_INVALID: 'visit log is broken, reordered or forged',
  ERR_AGENT_LOST: 'agent did not come home in time',
  // sessions, negotiation, signing, disputes
  ERR_REQUEST_INVALID: 'purchase request is invalid',
  ERR_DELEGATION_INVALID: 'session-key delegation is invalid',
  ERR_VOUCHER_INVALID: 'voucher is invalid',
  ERR_SESSION_UNKNOWN: 'no such session',
  ERR_SESSION_CLOSED: 'session is closed',
  ERR_SALES_OFFER_INVALID: 'sales offer is invalid',
  ERR_BID_INVALID: 'bid is invalid',
  ERR_RULES_INVALID: 'negotiation rules are invalid',
  ERR_AGREEMENT_UNKNOWN: 'no agreement for this session and merchant',
  ERR_CONTRACT_INVALID: 'contract is invalid',
  ERR_BINDING_INVALID: 'binding statement is invalid',
  ERR_TERMS_MISMATCH: 'contract terms differ from the committed bid',
  ERR_EXCHANGE_ABORTED: 'exchange was aborted',
  ERR_EXCHANGE_RESOLVED: 'exchange was already resolved',
  ERR_EXCHANGE_DEADLINE: 'exchange deadline has passed',
  ERR_EXCHANGE_STATE: 'exchange is not in a state that allows this',
  ERR_ESCROW_INVALID: 'escrowed key half does not complete the signature',
  ERR_EVIDENCE_INVALID: 'evidence file does not verify',
  ERR_CONSOLE_TOKEN: 'console token missing or wrong',
  ERR_CONSOLE_HOST: 'console request for another host name (DNS rebinding)',
  ERR_CONSOLE_ORIGIN: 'console request from another site',
  ERR_CONSOLE_READ_ONLY: 'the console is read-only',
  ERR_CONSOLE_NOT_FOUND: 'no such console page or record',
} as const;

export const ERROR_CODES = { ...CRYPTO_ERROR_CODES, ...PROTOCOL_ERROR_CODES } as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** A ParleyError whose code must come from the catalogue. */
export function parleyError(code: ErrorCode, message?: string, cause?: unknown): ParleyError {
  return new ParleyError(code, message ?? ERROR_CODES[code], cause === undefined ? undefined : { cause });
}

export interface WireError {
  code: ErrorCode;
  message: string;
}

/** The `{code, message}` form of any error; unknown failures become ERR_INTERNAL without internals. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof ParleyError && isErrorCode(err.code)) return { code: err.code, message: err.message };
  return { code: 'ERR_INTERNAL', message: 'internal error' };
}

/** Rebuilds a ParleyError from a wire error; unknown codes are kept but marked. */
export function errorFromWire(w: unknown): ParleyError {
  if (typeof w === 'object' && w !== null) {
    const { code, message } = w as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      return new ParleyError(isErrorCode(code) ? code : 'ERR_INTERNAL', isErrorCode(code) ? message : `${code}: ${message}`);
    }
  }
  return new ParleyError('ERR_MALFORMED_MESSAGE', 'peer sent an unreadable error');
}
