import { PayloadInvalidError } from '../errors.ts';
import {
  GoJsonError,
  bytesValue,
  isJsonObject,
  numberField,
  objectField,
  parseJson,
  stringField,
  type JsonObject,
} from '../encoding/go-json.ts';
import { quoteUntrusted } from '../encoding/untrusted-text.ts';
import { ProtobufError, decodeAny } from './protobuf-any.ts';

/** The Any type URL containerd's imgcrypt registers for the payload. */
export const PAYLOAD_TYPE_URL = 'io.containerd.ocicrypt.v1.Payload';

/**
 * ocicrypt's DecryptConfig.Parameters: name -> list of values; an entry may be
 * null (Go's nil slice, e.g. "no password for this key").
 */
export type DecryptParameters = ReadonlyMap<string, readonly (Buffer | null)[]>;

export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: ReadonlyMap<string, string>;
}

export interface Payload {
  parameters: DecryptParameters;
  descriptor: LayerDescriptor;
}

const FIX_PAYLOAD = 'containerd sent a malformed decryption payload; check that containerd and its CRI/imgcrypt client are compatible';

/** A payload that names no layer: its parameters (keys) still count. */
export interface PayloadWithoutDescriptor {
  parameters: DecryptParameters;
  descriptor: null;
  /** Why there is no descriptor, e.g. "fd 3 is empty". */
  missing: string;
}

/**
 * Decodes the bytes containerd writes to fd 3: an Any wrapping imgcrypt's
 * Payload JSON. The forms containerd sends when it has no payload for this
 * processor (nothing, an empty Any, a Payload with no or a zero Descriptor)
 * come back as a PayloadWithoutDescriptor; anything else malformed is
 * PayloadInvalidError.
 */
export function decodePayload(bytes: Uint8Array): Payload | PayloadWithoutDescriptor {
  if (bytes.length === 0) return { parameters: new Map(), descriptor: null, missing: 'fd 3 is empty' };
  let json: string;
  try {
    const any = decodeAny(bytes);
    if (any.typeUrl === '' && any.value.length === 0) return { parameters: new Map(), descriptor: null, missing: 'fd 3 holds an empty Any' };
    const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
    if (typeName !== PAYLOAD_TYPE_URL) {
      throw new PayloadInvalidError(
        `payload has type ${quoteUntrusted(any.typeUrl, 100)}, expected ${PAYLOAD_TYPE_URL}`,
        FIX_PAYLOAD,
      );
    }
    json = new TextDecoder('utf-8', { fatal: true }).decode(any.value);
  } catch (error) {
    if (error instanceof PayloadInvalidError) throw error;
    const why = error instanceof ProtobufError ? error.message : 'invalid UTF-8';
    throw new PayloadInvalidError(`payload is not a protobuf Any (${why})`, FIX_PAYLOAD);
  }
  try {
    return payloadFromJson(parseJson(json, 'payload'));
  } catch (error) {
    if (error instanceof GoJsonError) throw new PayloadInvalidError(error.message, FIX_PAYLOAD);
    throw error;
  }
}

function payloadFromJson(root: unknown): Payload | PayloadWithoutDescriptor {
  if (!isJsonObject(root)) throw new GoJsonError('payload must be a JSON object');
  const decryptConfig = objectField(root, 'DecryptConfig', 'payload');
  const parameters = parametersFromJson((decryptConfig ? objectField(decryptConfig, 'Parameters', 'payload.DecryptConfig') : undefined) ?? {});
  const descriptorObject = objectField(root, 'Descriptor', 'payload');
  if (descriptorObject === undefined) return { parameters, descriptor: null, missing: 'the payload has no Descriptor' };
  const descriptor = descriptorFromJson(descriptorObject, 'payload.Descriptor');
  // Go's zero Descriptor, as a client that names no layer marshals it.
  if (descriptor.digest === '' && descriptor.annotations.size === 0) return { parameters, descriptor: null, missing: 'the payload\'s Descriptor is empty' };
  return { parameters, descriptor };
}

function parametersFromJson(object: JsonObject): DecryptParameters {
  const parameters = new Map<string, (Buffer | null)[]>();
  for (const [name, values] of Object.entries(object)) {
    const path = () => `payload parameter ${quoteUntrusted(name)}`;
    if (values === null) continue;
    if (!Array.isArray(values)) throw new GoJsonError(`${path()} must be an array`);
    parameters.set(name, values.map((value, i) => bytesValue(value, () => `${path()}[${i}]`) ?? null));
  }
  return parameters;
}

/** An OCI descriptor's JSON (Go's field matching); GoJsonError when a field has the wrong type. */
export function descriptorFromJson(object: JsonObject, path: string): LayerDescriptor {
  const annotations = new Map<string, string>();
  const annotationObject = objectField(object, 'annotations', path);
  for (const [key, value] of Object.entries(annotationObject ?? {})) {
    if (typeof value !== 'string') throw new GoJsonError(`${path}.annotations[${quoteUntrusted(key, 100)}] must be a string`);
    annotations.set(key, value);
  }
  return {
    mediaType: stringField(object, 'mediaType', path) ?? '',
    digest: stringField(object, 'digest', path) ?? '',
    size: numberField(object, 'size', path) ?? 0,
    annotations,
  };
}
