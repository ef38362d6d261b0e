import { constants, privateDecrypt, type KeyObject } from 'node:crypto';
import { privateKeysOfType, type SuppliedBytes } from '../keys/decryption-keys.ts';
import { parseItem, type OaepRecipient } from './pkcs11/blob.ts';
import { chooseModulePolicy, Pkcs11ConfigError, type ModulePolicy } from './pkcs11/config.ts';
import { BindingUnavailableError, PinSourceError, type Pkcs11Host } from './pkcs11/host.ts';
import { parsePkcs11KeyFile, Pkcs11KeyFileError } from '../keys/pkcs11-key-file.ts';
import { findModule, ModuleLookupError } from './pkcs11/module-lookup.ts';
import { decryptOnToken, TokenKeyFailure } from './pkcs11/token.ts';
import { redactPin, type Pkcs11Uri } from '../keys/pkcs11-uri.ts';
import { OperationBudget } from './operation-budget.ts';
import { CAN_TRY, UnwrapFailure, cannotTry, type KeyWrapScheme } from './scheme.ts';

const NO_KEY_FILE = 'no PKCS#11 key file supplied';

/**
 * PKCS#11: each item is ocicrypt's JSON blob of RSA-OAEP ciphertexts, one per
 * recipient. Key files (YAML naming a key on a token by RFC 7512 URI) decrypt
 * on the token through the module the URI names, allowed by the ocicrypt
 * config. A plain RSA private key also opens a recipient, since the wrapping
 * is plain RSA-OAEP: key escrow and recovery without the HSM, which the Go
 * decoder cannot do. Software keys are tried first, so they never load the
 * native binding.
 */
export function pkcs11SchemeWith(host: Pkcs11Host): KeyWrapScheme {
  return {
    name: 'pkcs11',

    checkKeys(keys) {
      return keys.pkcs11Yamls.length > 0 || privateKeysOfType(keys, 'rsa').length > 0 ? CAN_TRY : cannotTry(NO_KEY_FILE);
    },

    async unwrap(items, keys, budget = new OperationBudget()) {
      const recipients: OaepRecipient[] = [];
      const problems: string[] = [];
      items.forEach((item, index) => {
        const parsed = parseItem(item, index);
        recipients.push(...parsed.recipients);
        problems.push(...parsed.problems);
      });
      if (recipients.length === 0) throw new UnwrapFailure(`no usable recipient (${problems.join('; ')})`, 'malformed-items');

      const failures: string[] = [];
      const rsaKeys = privateKeysOfType(keys, 'rsa');
      for (const { key } of rsaKeys) {
        const plaintext = decryptWithRsaKey(key, recipients, budget);
        if (plaintext !== null) return plaintext;
      }
      if (rsaKeys.length > 0) failures.push(`${rsaKeys.length} RSA private key(s) open none of the ${recipients.length} recipient(s)`);

      if (keys.pkcs11Yamls.length === 0) {
        failures.push(NO_KEY_FILE);
      } else {
        const policy = modulePolicy(host, keys.pkcs11Config);
        for (const file of keys.pkcs11Yamls) {
          const outcome = unwrapWithKeyFile(file, policy, host, recipients, budget);
          if (Buffer.isBuffer(outcome)) return outcome;
          failures.push(`${file.origin}: ${outcome}`);
        }
      }
      throw new UnwrapFailure(`no key fits (${[...failures, ...problems].join('; ')})`);
    },

    describeRecipients(items) {
      return items.flatMap((item, index) => {
        const parsed = parseItem(item, index);
        return [...parsed.recipients.map((recipient) => `${recipient.name}: RSA-OAEP ${recipient.hash.name}`), ...parsed.problems];
      });
    },

    async describeKeyMaterial(material) {
      try {
        const keyFile = parsePkcs11KeyFile(material.bytes);
        const env = keyFile.moduleEnv.size > 0 ? ` (module env: ${[...keyFile.moduleEnv.keys()].join(', ')})` : '';
        return [redactPin(keyFile.uriText) + env];
      } catch (error) {
        if (error instanceof Pkcs11KeyFileError) return [`not a usable PKCS#11 key file: ${error.message}`];
        throw error;
      }
    },
  };
}

function decryptWithRsaKey(key: KeyObject, recipients: readonly OaepRecipient[], budget: OperationBudget): Buffer | null {
  for (const recipient of recipients) {
    budget.spend('private-key');
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: recipient.hash.nodeHash }, recipient.ciphertext);
    } catch {
      // Not this key's recipient; the next may be.
    }
  }
  return null;
}

function modulePolicy(host: Pkcs11Host, payloadConfig: Buffer | null): ModulePolicy | Pkcs11ConfigError {
  try {
    return chooseModulePolicy(host.localConfig(), payloadConfig, host.arch);
  } catch (error) {
    if (error instanceof Pkcs11ConfigError) return error;
    throw error;
  }
}

/** The private options, or why this key file did not yield them (one phrase, no PIN). */
function unwrapWithKeyFile(
  file: SuppliedBytes,
  policy: ModulePolicy | Pkcs11ConfigError,
  host: Pkcs11Host,
  recipients: readonly OaepRecipient[],
  budget: OperationBudget,
): Buffer | string {
  try {
    const keyFile = parsePkcs11KeyFile(file.bytes);
    if (policy instanceof Pkcs11ConfigError) return policy.message;
    const modulePath = findModule(keyFile.uri, policy, host.moduleFiles);
    const pin = pinOf(keyFile.uri, host);
    const binding = host.binding();
    const { token, objectLabel, objectId } = keyFile.uri;
    return host.withEnvironment(keyFile.moduleEnv, () => decryptOnToken(binding, { modulePath, token, objectLabel, objectId, pin }, recipients, budget));
  } catch (error) {
    if (error instanceof Pkcs11KeyFileError) return `not a usable PKCS#11 key file: ${error.message}`;
    if (error instanceof BindingUnavailableError) return `PKCS#11 binding unavailable: ${error.message}`;
    if (error instanceof ModuleLookupError || error instanceof PinSourceError || error instanceof TokenKeyFailure) return error.message;
    throw error;
  }
}

/** A private-key operation needs the PIN; a pin-source file may end in one newline (echo adds it). */
function pinOf(uri: Pkcs11Uri, host: Pkcs11Host): string {
  if (uri.pin === null) throw new PinSourceError('the URI has neither pin-value nor pin-source, and the private key needs a PIN');
  if (uri.pin.kind === 'value') return uri.pin.pin;
  const bytes = host.readPinFile(uri.pin.path);
  try {
    return bytes.toString('utf8').replace(/\r?\n$/, '');
  } finally {
    bytes.fill(0);
  }
}
