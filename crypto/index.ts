/**
 * Parley's crypto layer, the public surface. Everything above (protocol, agents, roles)
 * imports from here or from the named sub-modules; nothing here imports from above.
 */
export { ParleyError, CRYPTO_ERROR_CODES, cryptoError, isParleyError, type CryptoErrorCode } from './errors.js';
export * from './bytes.js';
export { canonicalJson, canonicalBytes, MAX_JSON_DEPTH, type JsonValue } from './canonical.js';
export {
  generateIdentityKey,
  identityPublicKey,
  ed25519Sign,
  ed25519Verify,
  ed25519SignNoble,
  ed25519VerifyNoble,
  ed25519SignOpenssl,
  ed25519VerifyOpenssl,
  ED25519_BACKEND,
  ed25519PrivateKeyPem,
  ed25519SeedFromPem,
  ed25519Pkcs8Der,
  ed25519SpkiDer,
  type IdentityKeyPair,
} from './ed25519.js';
export { PROTOCOL_VERSION, signingInput, signObject, verifyObject, openSignedObject, type SignedObject } from './signed.js';
export * from './rsa/index.js';
export * from './x509/index.js';
export {
  BID_KEY_LENGTH,
  MAX_BIDS,
  bidLink,
  commitBids,
  revealAt,
  verifyReveal,
  verifyPrefix,
  assertPrefix,
  RevealVerifier,
  keyToB64u,
  keyFromB64u,
  revealToWire,
  revealFromWire,
  type BidCommitment,
  type BidReveal,
  type WireBidReveal,
} from './hashchain.js';
export {
  generateEncryptionKey,
  encryptionPublicKey,
  seal,
  open as openSealed,
  sealJson,
  openJson as openSealedJson,
  SEALED_BOX_VERSION,
  SEALED_BOX_OVERHEAD,
  type EncryptionKeyPair,
} from './seal.js';
export { generateMasterKey, deriveSessionKey, atRestAad, encryptAtRest, decryptAtRest, AT_REST_VERSION } from './at-rest.js';
export {
  ENCRYPTED_KEY_LABEL,
  SCRYPT_PARAMS,
  encryptKeyFile,
  decryptKeyFile,
  isEncryptedKeyFile,
  keyFileText,
  privateKeyPem,
  readPrivateKeyFile,
  readPassphraseFile,
  type Passphrase,
} from './key-file.js';
export {
  CONTRACT_TYP,
  encodeJwsPayload,
  decodeJwsPayload,
  buyerProtected,
  legacyBuyerProtected,
  merchantProtected,
  checkBuyerHeader,
  checkMerchantHeader,
  decodeProtectedHeader,
  isParleyBuyerHeader,
  rsaThumbprint,
  ed25519Thumbprint,
  jwsSigningInput,
  signMerchant,
  buyerSignature,
  assembleContractJws,
  parseContractJws,
  checkBuyerSignature,
  checkMerchantSignature,
  merchantCertificate,
  verifyContractJws,
  type GeneralJws,
  type JwsSignature,
  type ContractSignatures,
} from './jws.js';
