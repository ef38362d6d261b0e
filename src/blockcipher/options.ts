import { CipherOptionsError } from '../errors.ts';
import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import {
  GoJsonError,
  bytesField,
  bytesMapField,
  isJsonObject,
  parseJson,
  stringField,
  type JsonObject,
} from '../encoding/go-json.ts';

/** The one layer cipher ocicrypt has; parsePublicOptions refuses any other. */
const AES_256_CTR_HMAC_SHA256 = 'AES_256_CTR_HMAC_SHA256';

/** Everything the layer cipher (AES_256_CTR_HMAC_SHA256) needs, checked. */
export interface LayerCipherOptions {
  symmetricKey: Buffer;
  nonce: Buffer;
  /** The expected HMAC-SHA256 of the ciphertext. */
  hmac: Buffer;
  /** The plaintext digest the encryptor recorded (advisory, may be empty). */
  digest: string;
}

export interface PublicOptions {
  cipher: string;
  hmac: Buffer | undefined;
  cipherOptions: Map<string, Buffer>;
}

const FIX_IMAGE = 'the image was encrypted by an incompatible tool or altered; re-encrypt it';

function parseOptionsJson(bytes: Buffer, what: string): JsonObject {
  const json = parseJson(bytes.toString('utf8'), what);
  if (!isJsonObject(json)) throw new GoJsonError(`${what} must be a JSON object`);
  return json;
}

function asCipherOptionsError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof GoJsonError) throw new CipherOptionsError(error.message, FIX_IMAGE);
    throw error;
  }
}

/** The `org.opencontainers.image.enc.pubopts` JSON (already base64-decoded). */
export function parsePublicOptions(bytes: Buffer): PublicOptions {
  return asCipherOptionsError(() => {
    const json = parseOptionsJson(bytes, 'public layer options');
    const cipher = stringField(json, 'cipher', 'pubopts') ?? '';
    if (cipher !== AES_256_CTR_HMAC_SHA256) {
      throw new CipherOptionsError(
        `unsupported layer cipher ${quoteUntrusted(cipher)}`,
        `only ${AES_256_CTR_HMAC_SHA256} exists in ocicrypt; ${FIX_IMAGE}`,
      );
    }
    return {
      cipher,
      hmac: bytesField(json, 'hmac', 'pubopts'),
      cipherOptions: bytesMapField(json, 'cipheroptions', 'pubopts'),
    };
  });
}

/**
 * Combines the public options with the unwrapped private options JSON; a
 * private cipher option overrides a public one of the same name, as in ocicrypt.
 */
export function layerCipherOptions(publicOptions: PublicOptions, privateJson: Buffer): LayerCipherOptions {
  return asCipherOptionsError(() => {
    const json = parseOptionsJson(privateJson, 'private layer options');
    const symmetricKey = bytesField(json, 'symkey', 'privopts');
    const cipherOptions = new Map([...publicOptions.cipherOptions, ...bytesMapField(json, 'cipheroptions', 'privopts')]);
    const nonce = cipherOptions.get('nonce');
    if (symmetricKey?.length !== 32) throw new CipherOptionsError('layer key is not 32 bytes', FIX_IMAGE);
    if (nonce?.length !== 16) throw new CipherOptionsError('layer nonce is missing or not 16 bytes', FIX_IMAGE);
    if (publicOptions.hmac?.length !== 32) {
      throw new CipherOptionsError('layer HMAC is missing or not 32 bytes: the layer cannot be authenticated', FIX_IMAGE);
    }
    return {
      symmetricKey,
      nonce,
      hmac: publicOptions.hmac,
      digest: stringField(json, 'digest', 'privopts') ?? '',
    };
  });
}
