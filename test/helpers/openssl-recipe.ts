/**
 * The OpenSSL recipe of docs/file-formats.md ("Checking a contract with OpenSSL"), verbatim,
 * run by the tests on real contracts: keep the two in step.
 */
import { spawnSync } from 'node:child_process';

/** Takes the pieces out of `contract.json` in the working directory (jq, coreutils, OpenSSL). */
export const OPENSSL_PREPARE = String.raw`C=contract.json
b64u() { tr '_-' '/+' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' | openssl base64 -d -A; }
jq -j '.signatures[0].protected + "." + .payload' $C > buyer.input
jq -j '.signatures[1].protected + "." + .payload' $C > merchant.input
jq -j '.signatures[0].signature' $C | b64u > buyer.sig
jq -j '.signatures[1].signature' $C | b64u > merchant.sig
jq -j '.signatures[1].protected' $C | b64u | jq -r '.x5c[0]' | fold -w 64 | sed '1i -----BEGIN CERTIFICATE-----' | sed '$a -----END CERTIFICATE-----' > merchant.pem
hex() { jq -j '.signatures[0].protected' $C | b64u | jq -j ".jwk.$1" | b64u | od -An -v -tx1 | tr -d ' \n'; }
printf 'asn1=SEQUENCE:k\n[k]\na=SEQUENCE:alg\nkey=BITWRAP,SEQUENCE:rsa\n[alg]\no=OID:rsaEncryption\np=NULL\n[rsa]\nn=INTEGER:0x%s\ne=INTEGER:0x%s\n' $(hex n) $(hex e) > session.cnf
openssl asn1parse -genconf session.cnf -noout -out session.der && openssl pkey -pubin -inform DER -in session.der -out session.pem`;
/** The three checks, one per line. */
export const OPENSSL_CHECK = String.raw`openssl dgst -sha256 -verify session.pem -signature buyer.sig buyer.input
openssl verify -CAfile ca.pem merchant.pem
openssl pkeyutl -verify -certin -inkey merchant.pem -rawin -in merchant.input -sigfile merchant.sig`;

/** Runs a shell script in `dir` (bash -e). */
export function sh(dir: string, script: string): { status: number | null; out: string } {
  const r = spawnSync('bash', ['-e', '-c', script], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

