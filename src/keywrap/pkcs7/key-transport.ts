import { constants, privateDecrypt, type KeyObject } from 'node:crypto';
import { childrenOf, isContext, octetsOf, sequenceOf, type Tlv } from './der.ts';
import { EnvelopeError, parseAlgorithmIdentifier, UnsupportedAlgorithmError, type AlgorithmIdentifier } from './enveloped-data.ts';

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const RSAES_OAEP = '1.2.840.113549.1.1.7';
const MGF1 = '1.2.840.113549.1.1.8';
const P_SPECIFIED = '1.2.840.113549.1.1.9';

const HASHES: ReadonlyMap<string, string> = new Map([
  ['1.3.14.3.2.26', 'sha1'],
  ['2.16.840.1.101.3.4.2.4', 'sha224'],
  ['2.16.840.1.101.3.4.2.1', 'sha256'],
  ['2.16.840.1.101.3.4.2.2', 'sha384'],
  ['2.16.840.1.101.3.4.2.3', 'sha512'],
]);

/** How one recipient's content key is unwrapped with an RSA private key. */
export interface KeyTransport {
  /** For `inspect`: "RSA PKCS#1 v1.5", "RSAES-OAEP sha256". */
  name: string;
  /**
   * The content-encryption key, or null when the key does not fit. PKCS#1 v1.5
   * uses implicit rejection (OpenSSL >= 3.2): a wrong key yields random bytes,
   * not an error, so only the content cipher can tell. The answer must never
   * depend on padding errors the runtime might still report.
   */
  unwrap(privateKey: KeyObject, encryptedKey: Buffer): Buffer | null;
}

/** Resolves a recipient's keyEncryptionAlgorithm; throws UnsupportedAlgorithmError or EnvelopeError. */
export function keyTransportFor(algorithm: AlgorithmIdentifier): KeyTransport {
  switch (algorithm.oid) {
    case RSA_ENCRYPTION:
      return { name: 'RSA PKCS#1 v1.5', unwrap: (key, encrypted) => rsaDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, encrypted) };
    case RSAES_OAEP: {
      const { hash, label } = oaepParameters(algorithm.parameters);
      const options = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, ...(label.length > 0 ? { oaepLabel: label } : {}) };
      return { name: `RSAES-OAEP ${hash}`, unwrap: (key, encrypted) => rsaDecrypt({ key, ...options }, encrypted) };
    }
    default:
      throw new UnsupportedAlgorithmError(`key encryption ${algorithm.oid} is not RSA key transport`);
  }
}

function rsaDecrypt(options: Parameters<typeof privateDecrypt>[0], encryptedKey: Buffer): Buffer | null {
  try {
    return privateDecrypt(options, encryptedKey);
  } catch {
    // Wrong key size, or (OAEP) a key that does not fit.
    return null;
  }
}

/**
 * RSAES-OAEP-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1,
 *   maskGenAlgorithm [1] DEFAULT mgf1SHA1, pSourceAlgorithm [2] DEFAULT pSpecifiedEmpty } (RFC 4055).
 * node:crypto ties MGF1's hash to the OAEP hash, so a different one is refused.
 */
function oaepParameters(parameters: Tlv | null): { hash: string; label: Buffer } {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let label: Buffer = Buffer.alloc(0);
  for (const field of parameters === null ? [] : sequenceOf(parameters, 'RSAES-OAEP parameters')) {
    const [inner] = childrenOf(field);
    if (inner === undefined) throw new EnvelopeError('empty RSAES-OAEP parameter');
    const algorithm = parseAlgorithmIdentifier(inner, 'RSAES-OAEP parameter');
    if (isContext(field, 0)) {
      hash = hashName(algorithm);
    } else if (isContext(field, 1)) {
      if (algorithm.oid !== MGF1 || algorithm.parameters === null) throw new UnsupportedAlgorithmError(`RSAES-OAEP mask generation ${algorithm.oid} is not supported`);
      mgfHash = hashName(parseAlgorithmIdentifier(algorithm.parameters, 'MGF1 hash'));
    } else if (isContext(field, 2)) {
      if (algorithm.oid !== P_SPECIFIED) throw new UnsupportedAlgorithmError(`RSAES-OAEP label source ${algorithm.oid} is not supported`);
      label = algorithm.parameters === null ? label : octetsOf(algorithm.parameters);
    }
  }
  if (mgfHash !== hash) throw new UnsupportedAlgorithmError(`RSAES-OAEP with ${hash} and MGF1 ${mgfHash} is not supported`);
  return { hash, label };
}

function hashName(algorithm: AlgorithmIdentifier): string {
  const hash = HASHES.get(algorithm.oid);
  if (hash === undefined) throw new UnsupportedAlgorithmError(`RSAES-OAEP hash ${algorithm.oid} is not supported`);
  return hash;
}
