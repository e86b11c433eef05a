/**
 * What the agent runtime needs to know about parties: who this host is (its id, role,
 * signing key and certificate) and how to check another party's certificate against the
 * CA. The runtime depends only on this interface; `crypto/x509` provides the checks.
 */
export type PartyRole = 'ca' | 'buyer' | 'merchant' | 'agent-home';

export interface PartyIdentity {
  id: string;
  role: PartyRole;
  publicKey: Uint8Array;
}

/** A party able to sign: its secret key never leaves the process. */
export interface Self extends PartyIdentity {
  secretKey: Uint8Array;
  certPem: string;
}

export interface Trust {
  /**
   * Verifies `certPem` against the CA (chain, validity now, role among `roles`) and returns
   * the identity it certifies; throws a coded ParleyError otherwise.
   */
  verify(certPem: string, roles: readonly PartyRole[]): PartyIdentity;
}
