import { lengthDelimitedFields } from '../encoding/protobuf.ts';

/** What decodeAny throws for malformed protobuf (and TypeError for a type_url that is not UTF-8). */
export { ProtobufError } from '../encoding/protobuf.ts';

/**
 * A google.protobuf.Any: field 1 is type_url, field 2 is value, both
 * length-delimited; as protobuf has it, the last occurrence of a field wins.
 */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export function decodeAny(bytes: Uint8Array): AnyMessage {
  let typeUrl = '';
  let value: Uint8Array = new Uint8Array(0);
  for (const { fieldNumber, content } of lengthDelimitedFields(bytes)) {
    if (fieldNumber === 1) typeUrl = new TextDecoder('utf-8', { fatal: true }).decode(content);
    if (fieldNumber === 2) value = content;
  }
  return { typeUrl, value };
}
