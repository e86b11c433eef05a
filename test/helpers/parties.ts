/**
 * Real parties for tests: one CA per call and certificates issued by it, as `Self` values
 * the runtime can sign with, plus the `Trust` anchored in that CA.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, type CertificateAuthority } from '../../crypto/x509/index.js';
import { generateIdentityKey, ed25519PrivateKeyPem } from '../../crypto/ed25519.js';
import type { PartyRole } from '../../crypto/x509/profile.js';
import { caTrust, type Self, type Trust } from '../../agents/runtime/trust.js';

export interface TestPki {
  ca: CertificateAuthority;
  trust: Trust;
  party(id: string, role: PartyRole): Promise<Self>;
  /** writes ca.pem, <id>.pem and <id>.key into `dir` (for child processes) */
  writeFiles(dir: string, self: Self): { ca: string; cert: string; key: string };
}

export async function testPki(): Promise<TestPki> {
  const ca = await createCa({ id: 'test-ca' });
  const trust = caTrust(ca.certificate);
  return {
    ca,
    trust,
    async party(id, role) {
      const k = generateIdentityKey();
      const cert = await issueCertificate(ca, { role, id, publicKey: k.publicKey });
      return { id, role, publicKey: k.publicKey, secretKey: k.secretKey, certPem: cert.pem };
    },
    writeFiles(dir, self) {
      const paths = { ca: join(dir, 'ca.pem'), cert: join(dir, `${self.id}.pem`), key: join(dir, `${self.id}.key`) };
      writeFileSync(paths.ca, ca.certificate.pem);
      writeFileSync(paths.cert, self.certPem);
      writeFileSync(paths.key, ed25519PrivateKeyPem(self.secretKey), { mode: 0o600 });
      return paths;
    },
  };
}
