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

/** Decodes the bytes containerd writes to fd 3: an Any wrapping imgcrypt's Payload JSON. */
export function decodePayload(bytes: Uint8Array): Payload {
  let json: string;
  try {
    const any = decodeAny(bytes);
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

function payloadFromJson(root: unknown): Payload {
  if (!isJsonObject(root)) throw new GoJsonError('payload must be a JSON object');
  const decryptConfig = objectField(root, 'DecryptConfig', 'payload');
  const parameters = decryptConfig ? objectField(decryptConfig, 'Parameters', 'payload.DecryptConfig') : undefined;
  const descriptor = objectField(root, 'Descriptor', 'payload');
  if (descriptor === undefined) throw new GoJsonError('payload has no Descriptor');
  return {
    parameters: parametersFromJson(parameters ?? {}),
    descriptor: descriptorFromJson(descriptor),
  };
}

function parametersFromJson(object: JsonObject): DecryptParameters {
  const parameters = new Map<string, (Buffer | null)[]>();
  for (const [name, values] of Object.entries(object)) {
    const path = `payload parameter ${quoteUntrusted(name)}`;
    if (values === null) continue;
    if (!Array.isArray(values)) throw new GoJsonError(`${path} must be an array`);
    parameters.set(name, values.map((value, i) => bytesValue(value, `${path}[${i}]`) ?? null));
  }
  return parameters;
}

function descriptorFromJson(object: JsonObject): LayerDescriptor {
  const path = 'payload.Descriptor';
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
