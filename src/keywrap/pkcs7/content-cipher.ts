import { createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { DerError, isContext, isUniversal, octetsOf, readElement, sequenceOf, smallIntegerOf, UNIVERSAL_TAG, type Tlv } from './der.ts';
import { EnvelopeError, UnsupportedAlgorithmError, type EncryptedContent } from './enveloped-data.ts';

type Mode = 'gcm' | 'cbc';

interface ContentCipher {
  name: string;
  /** node:crypto's cipher name. */
  cipher: string;
  keyLength: number;
  mode: Mode;
  /** CBC block size = IV length. */
  blockSize: number;
}

/**
 * Content ciphers by OID. ocicrypt writes aes128-GCM; the CBC ciphers are what
 * other CMS tools (openssl cms / smime, Go pkcs7 with another setting) write
 * and the Go decoder reads.
 */
const CONTENT_CIPHERS: ReadonlyMap<string, ContentCipher> = new Map([
  ['2.16.840.1.101.3.4.1.6', { name: 'aes128-GCM', cipher: 'aes-128-gcm', keyLength: 16, mode: 'gcm', blockSize: 16 }],
  ['2.16.840.1.101.3.4.1.26', { name: 'aes192-GCM', cipher: 'aes-192-gcm', keyLength: 24, mode: 'gcm', blockSize: 16 }],
  ['2.16.840.1.101.3.4.1.46', { name: 'aes256-GCM', cipher: 'aes-256-gcm', keyLength: 32, mode: 'gcm', blockSize: 16 }],
  ['2.16.840.1.101.3.4.1.2', { name: 'aes128-CBC', cipher: 'aes-128-cbc', keyLength: 16, mode: 'cbc', blockSize: 16 }],
  ['2.16.840.1.101.3.4.1.22', { name: 'aes192-CBC', cipher: 'aes-192-cbc', keyLength: 24, mode: 'cbc', blockSize: 16 }],
  ['2.16.840.1.101.3.4.1.42', { name: 'aes256-CBC', cipher: 'aes-256-cbc', keyLength: 32, mode: 'cbc', blockSize: 16 }],
  ['1.2.840.113549.3.7', { name: 'des-ede3-cbc', cipher: 'des-ede3-cbc', keyLength: 24, mode: 'cbc', blockSize: 8 }],
]);

/** Named so the refusal is clear; single DES and RC2 are only in OpenSSL's legacy provider, which the runtime does not load. */
const REFUSED_CIPHERS: ReadonlyMap<string, string> = new Map([
  ['1.3.14.3.2.7', 'des-cbc'],
  ['1.2.840.113549.3.2', 'rc2-cbc'],
]);

/** RFC 5084: aes-ICVlen is 12 to 16, default 12. */
const GCM_TAG_LENGTHS = { min: 12, max: 16, default: 12 } as const;

/** An item's content, ready for candidate keys. */
export interface ContentDecryption {
  /**
   * True when a wrong key is rejected by a tag (GCM). For CBC only the
   * padding and the plaintext's shape can tell, so callers check more.
   */
  authenticated: boolean;
  /** The plaintext, or null when this key does not open the content. */
  decrypt(key: Buffer): Buffer | null;
}

/** Resolves the item's content cipher; throws UnsupportedAlgorithmError or EnvelopeError (bad parameters). */
export function contentDecryptionFor(content: EncryptedContent): ContentDecryption {
  const { oid, parameters } = content.algorithm;
  const cipher = CONTENT_CIPHERS.get(oid);
  if (cipher === undefined) {
    const refused = REFUSED_CIPHERS.get(oid);
    throw new UnsupportedAlgorithmError(`content cipher ${refused ?? oid} is not supported`);
  }
  try {
    return cipher.mode === 'gcm' ? gcmDecryption(cipher, parameters, content) : cbcDecryption(cipher, parameters, content);
  } catch (error) {
    if (error instanceof DerError) throw new EnvelopeError(`bad ${cipher.name} parameters: ${error.message}`);
    throw error;
  }
}

function gcmDecryption(cipher: ContentCipher, parameters: Tlv | null, content: EncryptedContent): ContentDecryption {
  const { nonce, tagLength } = gcmParameters(parameters, cipher.name);
  // EnvelopedData carries ciphertext || tag; AuthEnvelopedData keeps the tag in `mac`.
  let ciphertext = content.ciphertext;
  let tag = content.mac;
  if (tag === null) {
    if (ciphertext.length < tagLength) throw new EnvelopeError(`${cipher.name} content is shorter than its tag`);
    tag = ciphertext.subarray(ciphertext.length - tagLength);
    ciphertext = ciphertext.subarray(0, ciphertext.length - tagLength);
  } else if (tag.length < GCM_TAG_LENGTHS.min || tag.length > GCM_TAG_LENGTHS.max) {
    throw new EnvelopeError(`${cipher.name} mac is ${tag.length} bytes`);
  }
  const authTag = tag;
  return {
    authenticated: true,
    decrypt(key) {
      if (key.length !== cipher.keyLength) return null;
      const decipher = createDecipheriv(cipher.cipher as CipherGCMTypes, key, nonce, { authTagLength: authTag.length });
      if (content.additionalData !== null) decipher.setAAD(content.additionalData);
      decipher.setAuthTag(authTag);
      try {
        // final() checks the tag (constant-time, in OpenSSL).
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        return null;
      }
    },
  };
}

/**
 * GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 } (RFC 5084).
 * The Go encoder (go.mozilla.org/pkcs7, used by ocicrypt) writes it wrapped and
 * retagged: `10 13 | 30 11 | 84 0C <nonce> | 02 01 10`, a primitive element with
 * the SEQUENCE tag whose content is the real SEQUENCE, and the nonce as [4].
 */
function gcmParameters(parameters: Tlv | null, name: string): { nonce: Buffer; tagLength: number } {
  if (parameters === null || !isUniversal(parameters, UNIVERSAL_TAG.sequence)) throw new EnvelopeError(`${name} has no GCM parameters`);
  const sequence = parameters.constructed ? parameters : readElement(parameters.content);
  const [nonce, icvLength] = sequenceOf(sequence, 'GCM parameters');
  if (nonce === undefined || !(isUniversal(nonce, UNIVERSAL_TAG.octetString) || isContext(nonce, 4))) {
    throw new EnvelopeError(`${name} parameters have no nonce`);
  }
  const nonceBytes = octetsOf(nonce);
  if (nonceBytes.length === 0) throw new EnvelopeError(`${name} nonce is empty`);
  const tagLength = icvLength === undefined ? GCM_TAG_LENGTHS.default : smallIntegerOf(icvLength);
  if (tagLength < GCM_TAG_LENGTHS.min || tagLength > GCM_TAG_LENGTHS.max) throw new EnvelopeError(`${name} tag length ${tagLength} is invalid`);
  return { nonce: nonceBytes, tagLength };
}

/** CBC parameters are the IV as an OCTET STRING; PKCS#7 padding is checked by final(). */
function cbcDecryption(cipher: ContentCipher, parameters: Tlv | null, content: EncryptedContent): ContentDecryption {
  if (parameters === null || !isUniversal(parameters, UNIVERSAL_TAG.octetString)) throw new EnvelopeError(`${cipher.name} has no IV`);
  const iv = octetsOf(parameters);
  if (iv.length !== cipher.blockSize) throw new EnvelopeError(`${cipher.name} IV is ${iv.length} bytes`);
  if (content.ciphertext.length === 0 || content.ciphertext.length % cipher.blockSize !== 0) {
    throw new EnvelopeError(`${cipher.name} content is not whole blocks`);
  }
  return {
    authenticated: false,
    decrypt(key) {
      if (key.length !== cipher.keyLength) return null;
      const decipher = createDecipheriv(cipher.cipher, key, iv);
      try {
        return Buffer.concat([decipher.update(content.ciphertext), decipher.final()]);
      } catch {
        return null;
      }
    },
  };
}
