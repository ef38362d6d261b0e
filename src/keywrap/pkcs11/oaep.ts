/**
 * RSA-OAEP as ocicrypt wraps layer keys for PKCS#11 recipients: MGF1 with the
 * same hash, empty label. One entry per hash, with what node:crypto and a
 * PKCS#11 token each need to know about it.
 */
export interface OaepHash {
  /** How messages name it. */
  name: string;
  /** node:crypto's oaepHash. */
  nodeHash: string;
  /** CKM_SHA_1 / CKM_SHA256 (PKCS#11 v2.40). */
  pkcs11Hash: number;
  /** CKG_MGF1_SHA1 / CKG_MGF1_SHA256. */
  pkcs11Mgf: number;
}

const SHA1: OaepHash = { name: 'SHA-1', nodeHash: 'sha1', pkcs11Hash: 0x220, pkcs11Mgf: 0x1 };
const SHA256: OaepHash = { name: 'SHA-256', nodeHash: 'sha256', pkcs11Hash: 0x250, pkcs11Mgf: 0x2 };

/** By the blob's `hash` value: ocicrypt wrote "" for SHA-1 before it wrote "sha1". */
const BY_BLOB_HASH: ReadonlyMap<string, OaepHash> = new Map([
  ['', SHA1],
  ['sha1', SHA1],
  ['sha256', SHA256],
]);

export function oaepHashOf(blobHash: string): OaepHash | undefined {
  return BY_BLOB_HASH.get(blobHash);
}
