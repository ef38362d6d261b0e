import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assembleDecryptionKeys, privateKeysOfType, type DecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { pkcs7Scheme } from '../../src/keywrap/pkcs7.ts';
import { certificateIdentity, describeCertificate, identifies } from '../../src/keywrap/pkcs7/certificate-identity.ts';
import { parseEnvelope } from '../../src/keywrap/pkcs7/enveloped-data.ts';
import { certificatesWithoutKey, planAttempts, recipientCertificates } from '../../src/keywrap/pkcs7/recipient-selection.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
import { REPO_ROOT } from '../support/run-decoder.ts';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'pkcs7');
const fixture = (...path: string[]): Buffer => readFileSync(join(FIXTURES, ...path));
const layerItem = (name: string): Buffer => {
  const descriptor = JSON.parse(fixture('layers', name, 'descriptor.json').toString()) as { annotations: Record<string, string> };
  return Buffer.from(descriptor.annotations['org.opencontainers.image.enc.keys.pkcs7']!, 'base64');
};
const certificate = (name: string): X509Certificate => new X509Certificate(fixture('keys', `${name}.cert.pem`));
const PRIVATE_OPTIONS = fixture('items', 'private-options.json');

/** Keys as the decoder assembles them: keys-directory files (in this order), then payload parameters. */
function keysOf(files: readonly string[], parameters: Record<string, Buffer[]> = {}): DecryptionKeys {
  return assembleDecryptionKeys(
    files.map((file) => ({ path: file, bytes: fixture('keys', file) })),
    new Map(Object.entries(parameters)),
  );
}

describe('certificate identity', () => {
  it('reads issuer, serial and subject key identifier from the DER', () => {
    const issued = certificateIdentity(certificate('rsa2048'))!;
    const ca = certificateIdentity(certificate('ca'))!;
    // The CA is self-signed, so its issuer is also the name it issues under.
    assert.deepEqual(issued.issuer, ca.issuer);
    assert.deepEqual(issued.serial, Buffer.from(certificate('rsa2048').serialNumber, 'hex'));
    assert.equal(issued.subjectKeyIdentifier?.length, 20);
  });

  it('matches recipients by issuer and serial, or by subject key identifier, and nothing else', () => {
    const [byIssuer] = parseEnvelope(layerItem('rsa2048-gzip')).keyTransportRecipients;
    const [byKeyId] = parseEnvelope(fixture('items', 'subject-key-id.der')).keyTransportRecipients;
    const rsa2048 = certificateIdentity(certificate('rsa2048'))!;
    const rsa3072 = certificateIdentity(certificate('rsa3072'))!;
    assert.ok(identifies(byIssuer!.identifier, rsa2048));
    assert.ok(identifies(byKeyId!.identifier, rsa2048));
    // Same issuer, other serial; other key identifier.
    assert.ok(!identifies(byIssuer!.identifier, rsa3072));
    assert.ok(!identifies(byKeyId!.identifier, rsa3072));
  });

  it('describes a certificate by common name and serial', () => {
    assert.match(describeCertificate(certificate('rsa2048')), /^CN=ctd-decoder test pkcs7 rsa2048 \(serial [0-9A-F]+\)$/);
  });
});

describe('recipient selection', () => {
  const [recipient2048, recipient3072] = parseEnvelope(layerItem('two-gzip')).keyTransportRecipients;

  it('pairs each supplied certificate with its private key, once per certificate', () => {
    const keys = keysOf(['rsa3072.cert.pem', 'rsa2048.key.pem', 'rsa3072.key.pem'], { x509s: [fixture('keys', 'rsa3072.cert.pem')] });
    const certificates = recipientCertificates(keys, privateKeysOfType(keys, 'rsa'));
    assert.equal(certificates.length, 1);
    assert.equal(certificates[0]!.key?.origin, 'rsa3072.key.pem');
  });

  it('tries the certificate-chosen recipient first, then every key on every recipient, each pair once', () => {
    const keys = keysOf(['rsa2048.key.pem', 'rsa3072.cert.pem', 'rsa3072.key.pem']);
    const rsaKeys = privateKeysOfType(keys, 'rsa');
    const attempts = planAttempts([recipient2048!, recipient3072!], rsaKeys, recipientCertificates(keys, rsaKeys));
    assert.deepEqual(
      attempts.map((attempt) => [attempt.recipient.index, attempt.key.origin, attempt.certificate !== null]),
      [
        [1, 'rsa3072.key.pem', true],
        [0, 'rsa2048.key.pem', false],
        [0, 'rsa3072.key.pem', false],
        [1, 'rsa2048.key.pem', false],
      ],
    );
  });

  it('tries keys alone when no certificate is supplied', () => {
    const keys = keysOf(['rsa3072.key.pem']);
    const attempts = planAttempts([recipient2048!, recipient3072!], privateKeysOfType(keys, 'rsa'), []);
    assert.deepEqual(attempts.map((attempt) => attempt.recipient.index), [0, 1]);
  });

  it('finds certificates that name a recipient but came without their key', () => {
    const keys = keysOf(['rsa2048.cert.pem', 'wrong-rsa2048.cert.pem', 'wrong-rsa2048.key.pem']);
    const certificates = recipientCertificates(keys, privateKeysOfType(keys, 'rsa'));
    assert.deepEqual(
      certificatesWithoutKey([recipient2048!, recipient3072!], certificates).map((entry) => entry.description),
      [describeCertificate(certificate('rsa2048'))],
    );
  });
});

describe('pkcs7 scheme', () => {
  const items = readdirSync(join(FIXTURES, 'items')).filter((file) => file.endsWith('.der'));
  for (const file of items) {
    it(`unwraps ${file} with the key alone and with key and certificate`, async () => {
      const item = fixture('items', file);
      assert.deepEqual(await pkcs7Scheme.unwrap([item], keysOf(['rsa2048.key.pem'])), PRIVATE_OPTIONS);
      assert.deepEqual(await pkcs7Scheme.unwrap([item], keysOf(['rsa2048.cert.pem', 'rsa2048.key.pem'])), PRIVATE_OPTIONS);
    });
  }

  it('unwraps the skopeo, RFC 5084 and CBC layer items', async () => {
    for (const name of ['rsa2048-gzip', 'rfc5084-gzip', 'cbc-gzip']) {
      assert.deepEqual(await pkcs7Scheme.unwrap([layerItem(name)], keysOf(['rsa2048.key.pem'])), PRIVATE_OPTIONS, name);
    }
  });

  it('says what is missing when no RSA private key is supplied', () => {
    assert.deepEqual(pkcs7Scheme.checkKeys(keysOf([])), { canTry: false, missing: 'no RSA private key supplied' });
    assert.deepEqual(pkcs7Scheme.checkKeys(keysOf(['ec256.key.pem'])), { canTry: false, missing: 'no RSA private key supplied' });
    assert.deepEqual(pkcs7Scheme.checkKeys(keysOf(['rsa2048.cert.pem'])), { canTry: false, missing: 'no RSA private key supplied (a certificate alone cannot decrypt)' });
    assert.deepEqual(pkcs7Scheme.checkKeys(keysOf(['wrong-rsa2048.key.pem'])), { canTry: true });
  });

  it('explains failures in one line without key material', async () => {
    const failure = async (item: Buffer, files: string[]) =>
      pkcs7Scheme.unwrap([item], keysOf(files)).then(
        () => assert.fail('unwrap succeeded'),
        (error: unknown) => {
          assert.ok(error instanceof UnwrapFailure);
          assert.doesNotMatch(error.message, /\n/);
          return error.message;
        },
      );
    assert.equal(await failure(fixture('items', 'aes128-cbc.der'), ['wrong-rsa2048.key.pem']), 'no private key fits (1 RSA key tried against 1 recipient)');
    assert.equal(await failure(fixture('items', 'oaep-sha256.der'), ['wrong-rsa2048.key.pem']), 'no private key fits (1 RSA key tried against 1 recipient)');
    const twoRecipients = layerItem('two-gzip');
    assert.equal(await failure(twoRecipients, ['wrong-rsa2048.key.pem']), 'no private key fits (1 RSA key tried against 2 recipients)');
    assert.equal(
      await failure(twoRecipients, ['rsa2048.cert.pem', 'rsa3072.cert.pem', 'wrong-rsa2048.key.pem']),
      `certificate ${describeCertificate(certificate('rsa2048'))} matches a recipient but its private key is not supplied ` +
        '(1 RSA key tried against 2 recipients, 1 more certificate without key)',
    );
  });
});

describe('pkcs7 recipients for inspect', () => {
  const ca = 'CN=ctd-decoder test pkcs7 CA';
  const serial = (name: string) => certificate(name).serialNumber;

  it('names each recipient by key transport, issuer and serial, or subject key identifier', () => {
    assert.deepEqual(pkcs7Scheme.describeRecipients!([layerItem('two-gzip')]), [
      `RSA PKCS#1 v1.5 issuer="${ca}" serial=${serial('rsa2048')}`,
      `RSA PKCS#1 v1.5 issuer="${ca}" serial=${serial('rsa3072')}`,
    ]);
    assert.deepEqual(pkcs7Scheme.describeRecipients!([fixture('items', 'oaep-sha256.der')]), [
      `RSAES-OAEP sha256 issuer="${ca}" serial=${serial('rsa2048')}`,
    ]);
    const [keyId] = parseEnvelope(fixture('items', 'subject-key-id.der')).keyTransportRecipients;
    assert.ok(keyId!.identifier.kind === 'subject-key-identifier');
    assert.deepEqual(pkcs7Scheme.describeRecipients!([fixture('items', 'subject-key-id.der')]), [
      `RSA PKCS#1 v1.5 subjectKeyId=${keyId!.identifier.keyIdentifier.toString('hex')}`,
    ]);
  });

  it('says which items are malformed', () => {
    assert.deepEqual(pkcs7Scheme.describeRecipients!([Buffer.from('garbage')]), ['malformed item: bad ASN.1: element runs past the end of its container']);
  });
});
