import { quoteUntrusted } from '../encoding/untrusted-text.ts';

/**
 * RFC 7512 PKCS#11 URIs, as ocicrypt key files use them:
 *
 *     pkcs11:token=t;object=k;id=%01?module-name=softhsm2&pin-value=1234
 *
 * Values are percent-decoded. Attributes this decoder does not use (type,
 * library-*, slot-description, ...) are accepted and ignored, as ocicrypt does.
 * Error messages name attributes, never their values: the query may hold a PIN.
 */
export class Pkcs11UriError extends Error {}

/** Which token a key lives on: every given attribute must match. */
export interface TokenSelector {
  label: string | null;
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  slotId: number | null;
}

export type PinSource = { kind: 'value'; pin: string } | { kind: 'file'; path: string };

export interface Pkcs11Uri {
  token: TokenSelector;
  /** CKA_LABEL of the key object. */
  objectLabel: string | null;
  /** CKA_ID of the key object: raw bytes. */
  objectId: Buffer | null;
  pin: PinSource | null;
  modulePath: string | null;
  moduleName: string | null;
}

const SCHEME = 'pkcs11:';
const MAX_SLOT_ID = 0xffffffff;

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (text.slice(0, SCHEME.length).toLowerCase() !== SCHEME) throw new Pkcs11UriError('not a pkcs11: URI');
  const rest = text.slice(SCHEME.length);
  const queryStart = rest.indexOf('?');
  const path = attributes(queryStart === -1 ? rest : rest.slice(0, queryStart), ';', 'path');
  const query = attributes(queryStart === -1 ? '' : rest.slice(queryStart + 1), '&', 'query');
  // A PIN typed with the wrong separator (`module-name=x;pin-value=1234`) would
  // otherwise hide inside another value and be printed with it. Only the PIN
  // itself may look like anything; module values, which messages show, may not
  // hold an attribute at all.
  for (const [name, value] of [...path, ...query]) {
    if (name === 'pin-value') continue;
    const decoded = value.toString('latin1');
    if (/pin-(?:value|source)=/i.test(decoded)) {
      throw new Pkcs11UriError(`attribute ${shownName(name)} contains a pin attribute: separate path attributes with ";" and query attributes with "&"`);
    }
    if (name.startsWith('module-') && /[;=]/.test(decoded)) {
      throw new Pkcs11UriError(`attribute ${shownName(name)} contains ";" or "=": separate query attributes with "&"`);
    }
  }

  const text8 = (map: Map<string, Buffer>, name: string) => map.get(name)?.toString('utf8') ?? null;
  const slotId = text8(path, 'slot-id');
  if (slotId !== null && (!/^\d{1,10}$/.test(slotId) || Number(slotId) > MAX_SLOT_ID)) {
    throw new Pkcs11UriError('slot-id must be a number from 0 to 4294967295');
  }
  const pinValue = text8(query, 'pin-value');
  const pinSource = text8(query, 'pin-source');
  if (pinValue !== null && pinSource !== null) throw new Pkcs11UriError('the URI has both pin-value and pin-source');
  const modulePath = text8(query, 'module-path');
  if (modulePath !== null && !modulePath.startsWith('/')) throw new Pkcs11UriError('module-path must be an absolute path');

  return {
    token: {
      label: text8(path, 'token'),
      manufacturer: text8(path, 'manufacturer'),
      model: text8(path, 'model'),
      serial: text8(path, 'serial'),
      slotId: slotId === null ? null : Number(slotId),
    },
    objectLabel: text8(path, 'object'),
    objectId: path.get('id') ?? null,
    pin: pinValue !== null ? { kind: 'value', pin: pinValue } : pinSource !== null ? { kind: 'file', path: pinSourcePath(pinSource) } : null,
    modulePath,
    moduleName: text8(query, 'module-name'),
  };
}

/** `name=value` pairs split by `separator`; an empty part has no attributes. */
function attributes(part: string, separator: string, where: 'path' | 'query'): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  if (part === '') return map;
  for (const attribute of part.split(separator)) {
    const equals = attribute.indexOf('=');
    if (equals <= 0) throw new Pkcs11UriError(`malformed ${where} attribute (expected name=value)`);
    const name = attribute.slice(0, equals);
    if (map.has(name)) throw new Pkcs11UriError(`duplicate ${where} attribute ${shownName(name)}`);
    map.set(name, percentDecode(attribute.slice(equals + 1), name));
  }
  return map;
}

function percentDecode(value: string, name: string): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(value, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x25) {
      bytes.push(raw[i]!);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Pkcs11UriError(`malformed percent-encoding in attribute ${shownName(name)}`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes);
}

/** An attribute name as messages show it: quoted unless it is a plain name such as pin-value. */
function shownName(name: string): string {
  return /^[a-z0-9-]{1,40}$/i.test(name) ? name : quoteUntrusted(name, 40);
}

/** pin-source is a file: an absolute path or a `file:` URI (ocicrypt supports no other source). */
function pinSourcePath(source: string): string {
  let path = source;
  if (/^file:\/\//i.test(source)) path = source.slice('file://'.length);
  else if (/^file:/i.test(source)) path = source.slice('file:'.length);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(source)) throw new Pkcs11UriError('pin-source must be a file (file: URI or absolute path)');
  if (!path.startsWith('/')) throw new Pkcs11UriError('pin-source must name an absolute path');
  return path;
}

/**
 * The URI text with every pin-value replaced, wherever it stands, for showing
 * which key a file names. The redaction runs to the next "&" (or the end): a
 * query value ends only there, so a PIN holding ";" or "?" is hidden whole, at
 * worst with some of what follows it. Percent-encoded spellings count too.
 */
export function redactPin(text: string): string {
  return text.replace(/(pin(?:-|%2d)value(?:=|%3d))[^&]*/gi, '$1(redacted)');
}
