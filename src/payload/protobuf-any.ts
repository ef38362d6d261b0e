/**
 * Just enough protobuf to open a google.protobuf.Any: field 1 is type_url,
 * field 2 is value, both length-delimited. Unknown fields are skipped as the
 * wire format allows.
 */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export class ProtobufError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = start; i < bytes.length && i < start + 10; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) break;
      return { value, next: i + 1 };
    }
    scale *= 128;
  }
  throw new ProtobufError('malformed varint');
}

export function decodeAny(bytes: Uint8Array): AnyMessage {
  let typeUrl = '';
  let value: Uint8Array = new Uint8Array(0);
  let offset = 0;
  while (offset < bytes.length) {
    const key = readVarint(bytes, offset);
    const fieldNumber = Math.floor(key.value / 8);
    const wireType = key.value % 8;
    offset = key.next;
    switch (wireType) {
      case WIRE_VARINT:
        offset = readVarint(bytes, offset).next;
        break;
      case WIRE_FIXED64:
        offset += 8;
        break;
      case WIRE_FIXED32:
        offset += 4;
        break;
      case WIRE_LENGTH_DELIMITED: {
        const length = readVarint(bytes, offset);
        const end = length.next + length.value;
        if (end > bytes.length) throw new ProtobufError('length runs past the end');
        const content = bytes.subarray(length.next, end);
        if (fieldNumber === 1) typeUrl = new TextDecoder('utf-8', { fatal: true }).decode(content);
        if (fieldNumber === 2) value = content;
        offset = end;
        break;
      }
      default:
        throw new ProtobufError(`unsupported wire type ${wireType}`);
    }
    if (offset > bytes.length) throw new ProtobufError('field runs past the end');
  }
  return { typeUrl, value };
}
