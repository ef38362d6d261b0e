/**
 * What the test key providers do with a layer's private options: seal them
 * with AES-256-GCM under the provider's own fixed secret, the way a KMS would
 * with a key the node never sees. The sealed form (the annotation item) is
 * `{"nonce":"<b64>","sealed":"<b64 ciphertext||tag>"}`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** The fixtures in test/fixtures/provider/ were sealed under these; changing one breaks them. */
export const PROVIDER_SECRETS = {
  command: Buffer.from('ctd-decoder command provider key'),
  grpc: Buffer.from('ctd-decoder gRPC provider key 01'),
} as const;

export type ProviderSecretName = keyof typeof PROVIDER_SECRETS;

export function sealOptions(secret: Buffer, optsData: Buffer): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, nonce);
  const sealed = Buffer.concat([cipher.update(optsData), cipher.final(), cipher.getAuthTag()]);
  return Buffer.from(JSON.stringify({ nonce: nonce.toString('base64'), sealed: sealed.toString('base64') }));
}

/** Throws when the item was not sealed under this secret. */
export function openOptions(secret: Buffer, annotation: Buffer): Buffer {
  const { nonce, sealed } = JSON.parse(annotation.toString('utf8')) as { nonce: string; sealed: string };
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(nonce, 'base64'));
  decipher.setAuthTag(bytes.subarray(-16));
  return Buffer.concat([decipher.update(bytes.subarray(0, -16)), decipher.final()]);
}

export interface ReplyOptions {
  /** Send optsdata as an array of byte values instead of base64, as some providers do. */
  optsDataAsArray?: boolean;
}

/** Answers one key-provider protocol request (keywrap or keyunwrap) as ocicrypt expects. */
export function answerRequest(secret: Buffer, requestJson: Buffer, options: ReplyOptions = {}): Buffer {
  const request = JSON.parse(requestJson.toString('utf8'));
  switch (request.op) {
    case 'keywrap': {
      const annotation = sealOptions(secret, Buffer.from(request.keywrapparams.optsdata, 'base64'));
      return Buffer.from(JSON.stringify({ keywrapresults: { annotation: annotation.toString('base64') } }));
    }
    case 'keyunwrap': {
      const optsData = openOptions(secret, Buffer.from(request.keyunwrapparams.annotation, 'base64'));
      const encoded = options.optsDataAsArray ? [...optsData] : optsData.toString('base64');
      return Buffer.from(JSON.stringify({ keyunwrapresults: { optsdata: encoded } }));
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }
}
