import { printable, quoteUntrusted } from '../../encoding/untrusted-text.ts';
import { OperationBudget } from '../operation-budget.ts';
import type { OaepRecipient } from './blob.ts';
import type { TokenSelector } from '../../keys/pkcs11-uri.ts';

/**
 * The part of a PKCS#11 module's API this decoder calls, as pkcs11js's N-API
 * addon exposes it (handles are Buffers holding a CK_ULONG; failures throw an
 * Error whose message starts with "CKR_NAME:number"). Everything is
 * synchronous, which keeps a key file's module environment in force for
 * exactly the duration of the calls.
 */
export interface Pkcs11Functions {
  C_Initialize(): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): TokenInfo;
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_CloseSession(session: Buffer): void;
  C_Login(session: Buffer, userType: number, pin: string): void;
  C_Logout(session: Buffer): void;
  C_FindObjectsInit(session: Buffer, template: Attribute[]): void;
  C_FindObjects(session: Buffer, maxObjects: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: Attribute[]): Attribute[];
  C_DecryptInit(session: Buffer, mechanism: Mechanism, key: Buffer): void;
  /** Returns the length of the plaintext written to `output`. */
  C_Decrypt(session: Buffer, input: Buffer, output: Buffer): number;
  /** Unloads the module (dlclose). */
  close(): void;
}

export interface TokenInfo {
  label: string;
  manufacturerID: string;
  model: string;
  serialNumber: string;
}

interface Attribute {
  type: number;
  value?: number | Buffer;
}

interface Mechanism {
  mechanism: number;
  parameter: { type: number; hashAlg: number; mgf: number; source: number };
}

export interface Pkcs11Binding {
  /** Loads the module at `path` (dlopen + C_GetFunctionList); throws with the loader's message. */
  loadModule(path: string): Pkcs11Functions;
  /** The binding's tag for CK_RSA_PKCS_OAEP_PARAMS in a mechanism parameter. */
  readonly rsaOaepParamsType: number;
}

/** The PKCS#11 v2.40 constants used here. */
export const CK = {
  CKF_SERIAL_SESSION: 0x4,
  CKU_USER: 0x1,
  CKA_CLASS: 0x0,
  CKA_LABEL: 0x3,
  CKA_ID: 0x102,
  CKA_MODULUS: 0x120,
  CKO_PRIVATE_KEY: 0x3,
  CKM_RSA_PKCS_OAEP: 0x9,
  CKZ_DATA_SPECIFIED: 0x1,
} as const;

const MAX_MATCHING_OBJECTS = 100;

/** The output buffer when a token will not say its key's modulus: a 16384-bit one. */
const LARGEST_MODULUS_BYTES = 2048;

/**
 * Why C_Decrypt failed, whatever the token said: a module returning different
 * codes for different OAEP failures would make this line a padding oracle
 * (Manger's attack) for whoever can push images and read pull errors.
 */
const DECRYPT_REFUSED = 'the token refused every ciphertext';

/** A key file's key could not be used; the message says which step failed and never holds the PIN. */
export class TokenKeyFailure extends Error {}

export interface TokenKey {
  modulePath: string;
  token: TokenSelector;
  objectLabel: string | null;
  objectId: Buffer | null;
  pin: string;
}

/**
 * Decrypts the first recipient the key opens, on the token, with
 * CKM_RSA_PKCS_OAEP. Tokens are those matching the URI (ocicrypt requires a
 * token label or a slot-id: logging in to every token with one PIN could lock
 * the others); each is tried until one yields. The module is initialised for
 * this call only and finalised and unloaded afterwards.
 */
export function decryptOnToken(binding: Pkcs11Binding, key: TokenKey, recipients: readonly OaepRecipient[], budget = new OperationBudget()): Buffer {
  if (key.token.label === null && key.token.slotId === null) throw new TokenKeyFailure('the URI names neither a token nor a slot-id');
  if (key.objectLabel === null && key.objectId === null) throw new TokenKeyFailure('the URI names neither an object nor an id');
  let module: Pkcs11Functions;
  try {
    module = binding.loadModule(key.modulePath);
  } catch (error) {
    throw new TokenKeyFailure(`cannot load module ${quoteUntrusted(key.modulePath, 200)} (${messageOf(error)})`);
  }
  try {
    initialize(module, key.modulePath);
    try {
      const failures: string[] = [];
      for (const slot of matchingSlots(module, key.token)) {
        const result = decryptInSlot(module, binding, slot, key, recipients, budget);
        if (Buffer.isBuffer(result)) return result;
        if (!failures.includes(result)) failures.push(result);
      }
      throw new TokenKeyFailure(failures.join('; '));
    } finally {
      ignoreFailure(() => module.C_Finalize());
    }
  } finally {
    ignoreFailure(() => module.close());
  }
}

function initialize(module: Pkcs11Functions, modulePath: string): void {
  try {
    module.C_Initialize();
  } catch (error) {
    if (ckrOf(error) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') return;
    throw new TokenKeyFailure(`module ${quoteUntrusted(modulePath, 200)} failed to initialise (${ckrOf(error) ?? messageOf(error)}); check the key file's module env`);
  }
}

interface Slot {
  handle: Buffer;
  label: string;
}

function matchingSlots(module: Pkcs11Functions, selector: TokenSelector): Slot[] {
  let handles: Buffer[];
  try {
    handles = module.C_GetSlotList(true);
  } catch (error) {
    throw new TokenKeyFailure(`cannot list the module's slots (${ckrOf(error) ?? messageOf(error)})`);
  }
  const present: string[] = [];
  const matching: Slot[] = [];
  for (const handle of handles) {
    let info: TokenInfo;
    try {
      info = module.C_GetTokenInfo(handle);
    } catch {
      continue; // The token went away between the two calls.
    }
    const label = unpad(info.label);
    present.push(JSON.stringify(label));
    if (tokenMatches(selector, slotIdOf(handle), info)) matching.push({ handle, label });
  }
  if (matching.length === 0) {
    const wanted = [
      selector.label === null ? null : `labelled ${JSON.stringify(selector.label)}`,
      selector.slotId === null ? null : `in slot-id ${selector.slotId}`,
    ].filter((part) => part !== null);
    const tokens = present.length === 0 ? 'no token is present' : `tokens present: ${present.slice(0, 5).join(', ')}${present.length > 5 ? ', …' : ''}`;
    throw new TokenKeyFailure(`token absent: no token ${wanted.join(' ')} matches the URI (${tokens})`);
  }
  return matching;
}

/** RFC 7512: every attribute the URI gives must match; CK_TOKEN_INFO strings are blank-padded. */
export function tokenMatches(selector: TokenSelector, slotId: number, info: TokenInfo): boolean {
  return (
    (selector.slotId === null || selector.slotId === slotId) &&
    (selector.label === null || selector.label === unpad(info.label)) &&
    (selector.manufacturer === null || selector.manufacturer === unpad(info.manufacturerID)) &&
    (selector.model === null || selector.model === unpad(info.model)) &&
    (selector.serial === null || selector.serial === unpad(info.serialNumber))
  );
}

/** A CK_SLOT_ID handle: a CK_ULONG in host order, and every platform the binary runs on is little-endian. */
function slotIdOf(handle: Buffer): number {
  return handle.length >= 8 ? Number(handle.readBigUInt64LE(0)) : handle.readUInt32LE(0);
}

function unpad(text: string): string {
  return text.replace(/[ \0]+$/, '');
}

/** The plaintext, or why this token did not yield it. */
function decryptInSlot(
  module: Pkcs11Functions,
  binding: Pkcs11Binding,
  slot: Slot,
  key: TokenKey,
  recipients: readonly OaepRecipient[],
  budget: OperationBudget,
): Buffer | string {
  const token = `token ${JSON.stringify(slot.label)}`;
  let session: Buffer;
  try {
    session = module.C_OpenSession(slot.handle, CK.CKF_SERIAL_SESSION);
  } catch (error) {
    return `cannot open a session with ${token} (${ckrOf(error) ?? messageOf(error)})`;
  }
  try {
    const loginFailure = login(module, session, key.pin, token);
    if (loginFailure !== null) return loginFailure;
    const object = findPrivateKey(module, session, key, token);
    if (typeof object === 'string') return object;
    const outputBytes = modulusBytesOf(module, session, object);
    // C_DecryptInit's refusals depend on the mechanism only (SoftHSM2 has no SHA-256 OAEP): worth naming.
    const refusals = new Set<string>();
    for (const recipient of recipients) {
      try {
        module.C_DecryptInit(session, oaepMechanism(binding, recipient), object);
      } catch (error) {
        refusals.add(`${recipient.hash.name}: ${ckrOf(error) ?? messageOf(error)}`);
        continue;
      }
      budget.spend('token');
      const output = Buffer.alloc(outputBytes);
      try {
        return output.subarray(0, module.C_Decrypt(session, recipient.ciphertext, output));
      } catch {
        refusals.add(DECRYPT_REFUSED);
      }
    }
    return `decryption failed: ${describeObject(key)} on ${token} opens none of the ${recipients.length} recipient(s) (${[...refusals].join(', ')})`;
  } finally {
    ignoreFailure(() => module.C_Logout(session));
    ignoreFailure(() => module.C_CloseSession(session));
  }
}

/** The key's modulus length, which bounds any OAEP plaintext, so no ciphertext can get CKR_BUFFER_TOO_SMALL. */
function modulusBytesOf(module: Pkcs11Functions, session: Buffer, object: Buffer): number {
  try {
    const [modulus] = module.C_GetAttributeValue(session, object, [{ type: CK.CKA_MODULUS }]);
    return Buffer.isBuffer(modulus?.value) && modulus.value.length > 0 ? modulus.value.length : LARGEST_MODULUS_BYTES;
  } catch {
    return LARGEST_MODULUS_BYTES;
  }
}

function login(module: Pkcs11Functions, session: Buffer, pin: string, token: string): string | null {
  try {
    module.C_Login(session, CK.CKU_USER, pin);
    return null;
  } catch (error) {
    const ckr = ckrOf(error);
    switch (ckr) {
      case 'CKR_USER_ALREADY_LOGGED_IN':
        return null;
      case 'CKR_PIN_INCORRECT':
        return `wrong PIN for ${token} (CKR_PIN_INCORRECT)`;
      case 'CKR_PIN_LOCKED':
        return `the PIN of ${token} is locked (CKR_PIN_LOCKED)`;
      case 'CKR_PIN_EXPIRED':
        return `the PIN of ${token} has expired (CKR_PIN_EXPIRED)`;
      default:
        return `login to ${token} failed (${ckr ?? messageOf(error)})`;
    }
  }
}

function findPrivateKey(module: Pkcs11Functions, session: Buffer, key: TokenKey, token: string): Buffer | string {
  const template: Attribute[] = [{ type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY }];
  if (key.objectLabel !== null) template.push({ type: CK.CKA_LABEL, value: Buffer.from(key.objectLabel, 'utf8') });
  if (key.objectId !== null) template.push({ type: CK.CKA_ID, value: key.objectId });
  let objects: Buffer[];
  try {
    module.C_FindObjectsInit(session, template);
    try {
      objects = module.C_FindObjects(session, MAX_MATCHING_OBJECTS);
    } finally {
      module.C_FindObjectsFinal(session);
    }
  } catch (error) {
    return `cannot search ${token} for ${describeObject(key)} (${ckrOf(error) ?? messageOf(error)})`;
  }
  if (objects.length === 1) return objects[0]!;
  if (objects.length === 0) return `object not found: no ${describeObject(key)} on ${token}`;
  return `${objects.length} private keys on ${token} match ${describeObject(key)}: name one with object= and id=`;
}

function oaepMechanism(binding: Pkcs11Binding, recipient: OaepRecipient): Mechanism {
  return {
    mechanism: CK.CKM_RSA_PKCS_OAEP,
    parameter: { type: binding.rsaOaepParamsType, hashAlg: recipient.hash.pkcs11Hash, mgf: recipient.hash.pkcs11Mgf, source: CK.CKZ_DATA_SPECIFIED },
  };
}

function describeObject(key: TokenKey): string {
  const parts = ['private key'];
  if (key.objectLabel !== null) parts.push(`object=${JSON.stringify(key.objectLabel)}`);
  if (key.objectId !== null) parts.push(`id=${[...key.objectId].map((byte) => '%' + byte.toString(16).padStart(2, '0')).join('')}`);
  return parts.join(' ');
}

/** "CKR_PIN_INCORRECT" from pkcs11js's "CKR_PIN_INCORRECT:160" messages. */
function ckrOf(error: unknown): string | null {
  return /^(CKR_[A-Z0-9_]+)/.exec(messageOf(error))?.[1] ?? null;
}

function messageOf(error: unknown): string {
  // The module's own text (a dlopen error names the file): one line, no terminal escapes.
  return printable(error instanceof Error ? error.message : String(error), 200);
}

function ignoreFailure(call: () => void): void {
  try {
    call();
  } catch {
    // Cleanup after the outcome is known; a module that fails here changes nothing.
  }
}
