/**
 * The little of the protobuf wire format the decoder needs, for messages
 * whose fields are all `bytes` or `string` (containerd's payload Any, the
 * key-provider gRPC messages). Fields of other wire types are skipped, as
 * protobuf requires of unknown fields; groups are refused.
 */
export class ProtobufError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Ten 7-bit groups hold 64 bits: a longer varint is malformed. */
const MAX_VARINT_BYTES = 10;

export interface LengthDelimitedField<T extends Uint8Array> {
  fieldNumber: number;
  /** A view into the message, not a copy. */
  content: T;
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** Field `fieldNumber`, wire type 2: its tag, its length, its bytes. */
export function encodeLengthDelimited(fieldNumber: number, content: Uint8Array): Buffer {
  return Buffer.concat([encodeVarint(fieldNumber * 8 + WIRE_LENGTH_DELIMITED), encodeVarint(content.length), content]);
}

/** The varint at `offset` and the offset after it. Values beyond 2^53 are refused: every one read here is a length or a tag. */
function readVarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (offset + i >= bytes.length) throw new ProtobufError('truncated protobuf: a varint runs past the end');
    const byte = bytes[offset + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) throw new ProtobufError('protobuf varint beyond 2^53');
      return { value, next: offset + i + 1 };
    }
  }
  throw new ProtobufError('protobuf varint too long');
}

/** Every length-delimited field of `message`, in order (a field that occurs twice is listed twice). */
export function lengthDelimitedFields<T extends Uint8Array>(message: T): LengthDelimitedField<T>[] {
  const fields: LengthDelimitedField<T>[] = [];
  let offset = 0;
  const skip = (length: number): number => {
    if (length > message.length - offset) throw new ProtobufError('truncated protobuf: a field runs past the end');
    return (offset += length);
  };
  while (offset < message.length) {
    const tag = readVarint(message, offset);
    offset = tag.next;
    const wireType = tag.value % 8;
    switch (wireType) {
      case WIRE_VARINT:
        offset = readVarint(message, offset).next;
        break;
      case WIRE_FIXED64:
        skip(8);
        break;
      case WIRE_FIXED32:
        skip(4);
        break;
      case WIRE_LENGTH_DELIMITED: {
        const length = readVarint(message, offset);
        offset = length.next;
        const start = offset;
        // Of a Buffer, subarray gives a Buffer: T is kept.
        fields.push({ fieldNumber: Math.floor(tag.value / 8), content: message.subarray(start, skip(length.value)) as T });
        break;
      }
      default:
        throw new ProtobufError(`protobuf wire type ${wireType} is not supported`);
    }
  }
  return fields;
}
