import { createCipheriv, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlattenedEncrypt } from 'jose';
import { FIXTURES, sha256 } from './fixtures.ts';
import { encodePayload } from './payload.ts';

const b64 = (bytes: Buffer) => bytes.toString('base64');

/**
 * A layer of `size` random bytes, encrypted as ocicrypt does, its key
 * wrapped (JWE) for the rsa2048 fixture key; `nonce` (the first counter block) random unless given.
 */
export async function makeLayer(size: number, nonce: Buffer = randomBytes(16)) {
  const plain = randomBytes(size);
  const key = randomBytes(32);
  const cipher = createCipheriv('aes-256-ctr', key, nonce);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const privateOptions = { symkey: b64(key), digest: '', cipheroptions: { nonce: b64(nonce) } };
  const jwe = await new FlattenedEncrypt(Buffer.from(JSON.stringify(privateOptions)))
    .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM' })
    .encrypt(createPublicKey(readFileSync(join(FIXTURES, 'jwe', 'pub', 'rsa2048.pub.pem'))));
  const publicOptions = { cipher: 'AES_256_CTR_HMAC_SHA256', hmac: b64(createHmac('sha256', key).update(encrypted).digest()), cipheroptions: {} };
  const descriptor = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+encrypted',
    digest: `sha256:${sha256(encrypted)}`,
    size: encrypted.length,
    annotations: {
      'org.opencontainers.image.enc.keys.jwe': b64(Buffer.from(JSON.stringify(jwe))),
      'org.opencontainers.image.enc.pubopts': b64(Buffer.from(JSON.stringify(publicOptions))),
    },
  };
  return { plain, encrypted, payload: encodePayload(descriptor) };
}

