import type { X509Certificate } from 'node:crypto';
import type { DecryptionKeys, SuppliedPrivateKey } from '../../keys/decryption-keys.ts';
import { certificateIdentity, describeCertificate, identifies, type CertificateIdentity } from './certificate-identity.ts';
import type { KeyTransportRecipient } from './enveloped-data.ts';

/** A supplied certificate, with the supplied RSA private key that belongs to it, if any. */
export interface RecipientCertificate {
  description: string;
  identity: CertificateIdentity;
  key: SuppliedPrivateKey | null;
}

/** One RSA decryption to try: this key on this recipient's encrypted key. */
export interface Attempt {
  recipient: KeyTransportRecipient;
  key: SuppliedPrivateKey;
  /** The certificate that chose this pair, null when the key is simply tried. */
  certificate: RecipientCertificate | null;
}

/** Supplied certificates (keys directory and payload x509s), each once, paired with their private key. */
export function recipientCertificates(keys: DecryptionKeys, rsaKeys: readonly SuppliedPrivateKey[]): RecipientCertificate[] {
  const certificates: RecipientCertificate[] = [];
  const seen: Buffer[] = [];
  for (const { certificate } of keys.certificates) {
    if (seen.some((raw) => raw.equals(certificate.raw))) continue;
    seen.push(certificate.raw);
    const identity = certificateIdentity(certificate);
    if (identity === null) continue;
    const key = rsaKeys.find((candidate) => belongsTo(candidate, certificate)) ?? null;
    certificates.push({ description: describeCertificate(certificate), identity, key });
  }
  return certificates;
}

function belongsTo(key: SuppliedPrivateKey, certificate: X509Certificate): boolean {
  try {
    return certificate.checkPrivateKey(key.key);
  } catch {
    return false;
  }
}

/**
 * The order keys are tried in. First the recipients a certificate names
 * whose private key is supplied (the Go decoder's only way), then every RSA
 * key against every recipient, so a private key without its certificate
 * works too. Each pair is tried once; RSA decryption is cheap next to
 * reporting "no key fits" for a key that does.
 */
export function planAttempts(
  recipients: readonly KeyTransportRecipient[],
  rsaKeys: readonly SuppliedPrivateKey[],
  certificates: readonly RecipientCertificate[],
): Attempt[] {
  const attempts: Attempt[] = [];
  const planned = new Map<KeyTransportRecipient, Set<SuppliedPrivateKey>>(recipients.map((recipient) => [recipient, new Set()]));
  const plan = (recipient: KeyTransportRecipient, key: SuppliedPrivateKey, certificate: RecipientCertificate | null): void => {
    const keys = planned.get(recipient)!;
    if (keys.has(key)) return;
    keys.add(key);
    attempts.push({ recipient, key, certificate });
  };
  for (const recipient of recipients) {
    for (const certificate of certificates) {
      if (certificate.key !== null && identifies(recipient.identifier, certificate.identity)) plan(recipient, certificate.key, certificate);
    }
  }
  for (const recipient of recipients) {
    for (const key of rsaKeys) plan(recipient, key, null);
  }
  return attempts;
}

/** Certificates that name one of the recipients but whose private key was not supplied. */
export function certificatesWithoutKey(
  recipients: readonly KeyTransportRecipient[],
  certificates: readonly RecipientCertificate[],
): RecipientCertificate[] {
  return certificates.filter(
    (certificate) => certificate.key === null && recipients.some((recipient) => identifies(recipient.identifier, certificate.identity)),
  );
}
