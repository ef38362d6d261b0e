import { decodeStdBase64 } from './base64.ts';
import { quoteUntrusted } from './untrusted-text.ts';

/**
 * Reading JSON the way Go's encoding/json fills a struct: field names match
 * case-insensitively (an exact match wins), unknown fields are ignored, null
 * means "zero value", and []byte is a base64 string or an array of numbers.
 * Each helper returns undefined for "absent or null" and throws GoJsonError
 * with a path for a value of the wrong type.
 */
export class GoJsonError extends Error {}

export type JsonObject = { readonly [key: string]: unknown };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GoJsonError(`${what} is not valid JSON`);
  }
}

/** The value of struct field `name`, matched as Go matches it. */
export function field(object: JsonObject, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const folded = name.toLowerCase();
  for (const key of Object.keys(object)) {
    if (key.toLowerCase() === folded) return object[key];
  }
  return undefined;
}

export function objectField(object: JsonObject, name: string, path: string): JsonObject | undefined {
  const value = field(object, name);
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw new GoJsonError(`${path}.${name} must be an object`);
  return value;
}

export function stringField(object: JsonObject, name: string, path: string): string | undefined {
  const value = field(object, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new GoJsonError(`${path}.${name} must be a string`);
  return value;
}

export function numberField(object: JsonObject, name: string, path: string): number | undefined {
  const value = field(object, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw new GoJsonError(`${path}.${name} must be a number`);
  return value;
}

/**
 * A Go []byte: standard base64 text, or an array of integers 0..255. A path
 * that costs something to build (it quotes untrusted text) is a function,
 * called only for the error.
 */
export function bytesValue(value: unknown, path: string | (() => string)): Buffer | undefined {
  const where = () => (typeof path === 'string' ? path : path());
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    const bytes = decodeStdBase64(value);
    if (bytes === null) throw new GoJsonError(`${where()} is not valid base64`);
    return bytes;
  }
  if (Array.isArray(value) && value.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    return Buffer.from(value as number[]);
  }
  throw new GoJsonError(`${where()} must be base64 text or an array of bytes`);
}

export function bytesField(object: JsonObject, name: string, path: string): Buffer | undefined {
  return bytesValue(field(object, name), `${path}.${name}`);
}

/** A Go map[string][]byte. */
export function bytesMapField(object: JsonObject, name: string, path: string): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  const value = objectField(object, name, path);
  if (value === undefined) return map;
  for (const [key, entry] of Object.entries(value)) {
    const bytes = bytesValue(entry, () => `${path}.${name}[${quoteUntrusted(key)}]`);
    if (bytes !== undefined) map.set(key, bytes);
  }
  return map;
}
