/** Builds what containerd writes to fd 3: protobuf Any{type_url, value = Payload JSON}. */
export const PAYLOAD_TYPE_URL = 'io.containerd.ocicrypt.v1.Payload';

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function lengthDelimited(fieldNumber: number, content: Buffer): Buffer {
  return Buffer.concat([varint(fieldNumber * 8 + 2), varint(content.length), content]);
}

export function encodeAny(typeUrl: string, value: Buffer): Buffer {
  return Buffer.concat([lengthDelimited(1, Buffer.from(typeUrl)), lengthDelimited(2, value)]);
}

export type Parameters = Record<string, (Buffer | null)[]>;

/** The Payload JSON as imgcrypt's Go code marshals it (Go field names, []byte as base64). */
export function payloadJson(descriptor: unknown, parameters: Parameters | null): string {
  const encoded =
    parameters === null
      ? null
      : Object.fromEntries(Object.entries(parameters).map(([name, values]) => [name, values.map((v) => (v === null ? null : v.toString('base64')))]));
  return JSON.stringify({ DecryptConfig: { Parameters: encoded }, Descriptor: descriptor });
}

export function encodePayload(descriptor: unknown, parameters: Parameters | null = null): Buffer {
  return encodeAny(PAYLOAD_TYPE_URL, Buffer.from(payloadJson(descriptor, parameters)));
}
