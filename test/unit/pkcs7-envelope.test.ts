import assert from 'node:assert/strict';
import { X509Certificate, constants, createCipheriv, publicEncrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { pkcs7Scheme } from '../../src/keywrap/pkcs7.ts';
import { certificateIdentity } from '../../src/keywrap/pkcs7/certificate-identity.ts';
import { contentDecryptionFor } from '../../src/keywrap/pkcs7/content-cipher.ts';
import { EnvelopeError, UnsupportedAlgorithmError, parseEnvelope } from '../../src/keywrap/pkcs7/enveloped-data.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
import { REPO_ROOT } from '../support/run-decoder.ts';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'pkcs7');
const fixture = (...path: string[]): Buffer => readFileSync(join(FIXTURES, ...path));
const layerItem = (name: string): Buffer => {
  const descriptor = JSON.parse(fixture('layers', name, 'descriptor.json').toString()) as { annotations: Record<string, string> };
  return Buffer.from(descriptor.annotations['org.opencontainers.image.enc.keys.pkcs7']!, 'base64');
};
const certificate = new X509Certificate(fixture('keys', 'rsa2048.cert.pem'));
const identity = certificateIdentity(certificate)!;
const keyAlone = assembleDecryptionKeys([{ path: 'rsa2048.key.pem', bytes: fixture('keys', 'rsa2048.key.pem') }], new Map());
const PRIVATE_OPTIONS = fixture('items', 'private-options.json');

const OID = {
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  aes128Gcm: '2.16.840.1.101.3.4.1.6',
  desCbc: '1.3.14.3.2.7',
} as const;

// A minimal DER writer, for vectors no tool here writes.
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
}
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first! * 40 + second!, ...rest]) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift((value & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}
const integer = (value: number): Buffer => tlv(0x02, Buffer.from([value]));
const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);

/** KeyTransRecipientInfo for the fixture certificate, PKCS#1 v1.5 (what every encoder here writes). */
function keyTransportRecipient(contentKey: Buffer): Buffer {
  const encryptedKey = publicEncrypt({ key: certificate.publicKey, padding: constants.RSA_PKCS1_PADDING }, contentKey);
  return sequence(integer(0), sequence(identity.issuer, tlv(0x02, identity.serial)), sequence(oid(OID.rsaEncryption)), tlv(0x04, encryptedKey));
}

interface GcmVector {
  parameters: (nonce: Buffer) => Buffer;
  tagLength?: number;
  contentTag: number;
}

/** ContentInfo(EnvelopedData) with aes128-GCM, ciphertext || tag in encryptedContent. */
function gcmEnvelopedData(plaintext: Buffer, vector: GcmVector): Buffer {
  const contentKey = randomBytes(16);
  const nonce = randomBytes(12);
  const tagLength = vector.tagLength ?? 16;
  const cipher = createCipheriv('aes-128-gcm', contentKey, nonce, { authTagLength: tagLength });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const content = vector.contentTag === 0xa0 ? tlv(0xa0, tlv(0x04, ciphertext)) : tlv(0x80, ciphertext);
  const encryptedContentInfo = sequence(oid(OID.data), sequence(oid(OID.aes128Gcm), vector.parameters(nonce)), content);
  return sequence(oid(OID.envelopedData), tlv(0xa0, sequence(integer(0), tlv(0x31, keyTransportRecipient(contentKey)), encryptedContentInfo)));
}

/** ContentInfo(AuthEnvelopedData) with authenticated attributes, which GCM must cover as additional data. */
function authEnvelopedDataWithAttributes(plaintext: Buffer, attributeValue: string): { item: Buffer; attributes: Buffer } {
  const contentKey = randomBytes(16);
  const nonce = randomBytes(12);
  const attributes = tlv(0x31, sequence(oid(OID.data), tlv(0x31, tlv(0x04, Buffer.from(attributeValue)))));
  const cipher = createCipheriv('aes-128-gcm', contentKey, nonce);
  cipher.setAAD(attributes);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const item = sequence(
    oid(OID.authEnvelopedData),
    tlv(
      0xa0,
      sequence(
        integer(0),
        tlv(0x31, keyTransportRecipient(contentKey)),
        sequence(oid(OID.data), sequence(oid(OID.aes128Gcm), sequence(tlv(0x04, nonce), integer(16))), tlv(0x80, ciphertext)),
        Buffer.concat([Buffer.from([0xa1]), attributes.subarray(1)]),
        tlv(0x04, cipher.getAuthTag()),
      ),
    ),
  );
  return { item, attributes };
}

async function failureOf(items: Buffer[]): Promise<string> {
  try {
    await pkcs7Scheme.unwrap(items, keyAlone);
  } catch (error) {
    assert.ok(error instanceof UnwrapFailure);
    return error.message;
  }
  assert.fail('unwrap succeeded');
}

describe('EnvelopedData model', () => {
  it('reads the skopeo item: A0-wrapped content, Go-encoded GCM parameters, issuer and serial', () => {
    const envelope = parseEnvelope(layerItem('rsa2048-gzip'));
    assert.equal(envelope.keyTransportRecipients.length, 1);
    const [recipient] = envelope.keyTransportRecipients;
    assert.equal(recipient!.identifier.kind, 'issuer-and-serial');
    assert.deepEqual(recipient!.identifier, { kind: 'issuer-and-serial', issuer: identity.issuer, serial: identity.serial });
    assert.equal(recipient!.keyEncryption.oid, OID.rsaEncryption);
    assert.equal(recipient!.encryptedKey.length, 256);
    assert.equal(envelope.content.algorithm.oid, OID.aes128Gcm);
    assert.equal(envelope.content.algorithm.parameters!.element.subarray(0, 4).toString('hex'), '10133011');
    assert.equal(envelope.content.ciphertext.length, PRIVATE_OPTIONS.length + 16);
    assert.equal(envelope.content.mac, null);
  });

  it('reads openssl\'s AuthEnvelopedData with RFC 5084 parameters and a separate mac', () => {
    const envelope = parseEnvelope(layerItem('rfc5084-gzip'));
    assert.equal(envelope.content.algorithm.parameters!.element.subarray(0, 4).toString('hex'), '3011040c');
    assert.equal(envelope.content.ciphertext.length, PRIVATE_OPTIONS.length);
    assert.equal(envelope.content.mac!.length, 16);
    assert.equal(envelope.content.additionalData, null);
  });

  it('reads BER indefinite lengths and subject key identifier recipients', () => {
    assert.equal(parseEnvelope(fixture('items', 'ber-indefinite.der')).keyTransportRecipients.length, 1);
    const [recipient] = parseEnvelope(fixture('items', 'subject-key-id.der')).keyTransportRecipients;
    assert.deepEqual(recipient!.identifier, { kind: 'subject-key-identifier', keyIdentifier: identity.subjectKeyIdentifier });
  });

  it('counts recipients it cannot use by kind', () => {
    const keyAgreement = tlv(0xa1, integer(3));
    const item = sequence(
      oid(OID.envelopedData),
      tlv(0xa0, sequence(integer(2), tlv(0x31, keyAgreement), sequence(oid(OID.data), sequence(oid(OID.aes128Gcm)), tlv(0x80, Buffer.alloc(16))))),
    );
    const envelope = parseEnvelope(item);
    assert.deepEqual(envelope.otherRecipients, ['key agreement']);
    assert.equal(envelope.keyTransportRecipients.length, 0);
  });

  it('says what is wrong with items that are not EnvelopedData', () => {
    assert.throws(() => parseEnvelope(sequence(oid(OID.signedData), tlv(0xa0, sequence()))), /content type 1\.2\.840\.113549\.1\.7\.2 is not EnvelopedData/);
    assert.throws(() => parseEnvelope(Buffer.from('{"not":"der"}')), EnvelopeError);
    assert.throws(() => parseEnvelope(layerItem('rsa2048-gzip').subarray(0, 100)), /bad ASN\.1/);
  });
});

describe('content ciphers', () => {
  const plaintext = Buffer.from('{"symkey":"AAAA"}');
  const decrypt = async (item: Buffer) => (await pkcs7Scheme.unwrap([item], keyAlone)).toString();

  it('decrypts aes128-GCM with the Go parameter encoding in either content form', async () => {
    const goParameters = (nonce: Buffer) => tlv(0x10, sequence(tlv(0x84, nonce), integer(16)));
    assert.equal(await decrypt(gcmEnvelopedData(plaintext, { parameters: goParameters, contentTag: 0xa0 })), plaintext.toString());
    assert.equal(await decrypt(gcmEnvelopedData(plaintext, { parameters: goParameters, contentTag: 0x80 })), plaintext.toString());
  });

  it('decrypts aes128-GCM EnvelopedData with standard RFC 5084 parameters, including the default 12-byte tag', async () => {
    const standard = (nonce: Buffer) => sequence(tlv(0x04, nonce), integer(16));
    const defaultTag = (nonce: Buffer) => sequence(tlv(0x04, nonce));
    assert.equal(await decrypt(gcmEnvelopedData(plaintext, { parameters: standard, contentTag: 0x80 })), plaintext.toString());
    assert.equal(await decrypt(gcmEnvelopedData(plaintext, { parameters: defaultTag, tagLength: 12, contentTag: 0xa0 })), plaintext.toString());
  });

  it('authenticates AuthEnvelopedData attributes as additional data', async () => {
    const { item, attributes } = authEnvelopedDataWithAttributes(plaintext, 'genuine');
    assert.equal(await decrypt(item), plaintext.toString());
    const altered = Buffer.from(item);
    altered.set(Buffer.from('GENUINE'), item.indexOf(attributes.subarray(-7)));
    assert.match(await failureOf([altered]), /no private key fits/);
  });

  it('refuses GCM parameters it cannot read, and unsupported ciphers by name', () => {
    const content = (algorithm: Buffer) => parseEnvelope(
      sequence(oid(OID.envelopedData), tlv(0xa0, sequence(integer(0), tlv(0x31), sequence(oid(OID.data), algorithm, tlv(0x80, Buffer.alloc(32)))))),
    ).content;
    assert.throws(() => contentDecryptionFor(content(sequence(oid(OID.aes128Gcm)))), /aes128-GCM has no GCM parameters/);
    assert.throws(() => contentDecryptionFor(content(sequence(oid(OID.aes128Gcm), sequence(tlv(0x04, Buffer.alloc(12)), integer(8))))), /tag length 8/);
    assert.throws(() => contentDecryptionFor(content(sequence(oid(OID.desCbc), tlv(0x04, Buffer.alloc(8))))), UnsupportedAlgorithmError);
    assert.throws(() => contentDecryptionFor(content(sequence(oid('1.2.3.4')))), /content cipher 1\.2\.3\.4 is not supported/);
  });
});

describe('pkcs7 scheme failures', () => {
  it('names an unsupported content cipher', async () => {
    const item = sequence(
      oid(OID.envelopedData),
      tlv(0xa0, sequence(integer(0), tlv(0x31, keyTransportRecipient(randomBytes(8))), sequence(oid(OID.data), sequence(oid(OID.desCbc), tlv(0x04, Buffer.alloc(8))), tlv(0x80, Buffer.alloc(16))))),
    );
    assert.equal(await failureOf([item]), 'item 0: content cipher des-cbc is not supported');
  });

  it('says when no recipient uses RSA key transport', async () => {
    const item = sequence(
      oid(OID.envelopedData),
      tlv(0xa0, sequence(integer(2), tlv(0x31, tlv(0xa1, integer(3))), sequence(oid(OID.data), sequence(oid(OID.aes128Gcm), sequence(tlv(0x04, Buffer.alloc(12)))), tlv(0x80, Buffer.alloc(32))))),
    );
    assert.equal(await failureOf([item]), 'no recipient uses RSA key transport (1 other recipient: key agreement)');
  });

  it('says which items are malformed, and still tries the others', async () => {
    assert.equal(await failureOf([Buffer.from('garbage')]), 'item 0: bad ASN.1: element runs past the end of its container');
    const good = layerItem('rsa2048-gzip');
    assert.deepEqual(await pkcs7Scheme.unwrap([Buffer.from('garbage'), good], keyAlone), PRIVATE_OPTIONS);
  });
});
