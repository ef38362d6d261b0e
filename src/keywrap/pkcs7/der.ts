import { MAX_DER_DEPTH, MAX_DER_LENGTH_OCTETS, MAX_OID_BYTES } from '../../limits.ts';

/**
 * A tolerant BER/DER reader: just enough ASN.1 to walk CMS structures as real
 * encoders write them. It accepts what a strict DER parser refuses and CMS
 * tools do emit: indefinite lengths (openssl -stream), constructed OCTET
 * STRINGs, non-minimal lengths, and a primitive element carrying a universal
 * "constructed" tag (the Go encoder's GCM parameters: `10 13 30 11 ...`).
 * Every read is bounds-checked; malformed input throws DerError.
 */

export const TAG_CLASS = { universal: 0, application: 1, context: 2, private: 3 } as const;

export const UNIVERSAL_TAG = {
  boolean: 1,
  integer: 2,
  octetString: 4,
  null: 5,
  oid: 6,
  sequence: 16,
  set: 17,
} as const;

/** The largest value an arc can have before one more 7-bit group would pass 2^53 (exact in a double). */
const MAX_ARC_BEFORE_SHIFT = 2 ** 46 - 1;

export class DerError extends Error {}

/** One BER element. */
export interface Tlv {
  tagClass: number;
  constructed: boolean;
  tagNumber: number;
  /** The whole element, header included: what byte-exact comparisons (issuer names) use. */
  element: Buffer;
  /** The content octets; for an indefinite length, without the end-of-contents marker. */
  content: Buffer;
}

/** Reads the one element `bytes` must consist of (trailing bytes are an error). */
export function readElement(bytes: Buffer): Tlv {
  const tlv = readTlvAt(bytes, 0, 0);
  if (tlv.element.length !== bytes.length) throw new DerError(`${bytes.length - tlv.element.length} trailing byte(s) after the element`);
  return tlv;
}

/** The elements inside a constructed element, or inside a primitive one whose content is encoded elements. */
export function childrenOf(tlv: Tlv): Tlv[] {
  const children: Tlv[] = [];
  for (let offset = 0; offset < tlv.content.length; ) {
    const child = readTlvAt(tlv.content, offset, 1);
    children.push(child);
    offset += child.element.length;
  }
  return children;
}

export function isUniversal(tlv: Tlv, tagNumber: number): boolean {
  return tlv.tagClass === TAG_CLASS.universal && tlv.tagNumber === tagNumber;
}

export function isContext(tlv: Tlv, tagNumber: number): boolean {
  return tlv.tagClass === TAG_CLASS.context && tlv.tagNumber === tagNumber;
}

/** A universal SEQUENCE's children; throws naming `what` when the element is something else. */
export function sequenceOf(tlv: Tlv, what: string): Tlv[] {
  if (!isUniversal(tlv, UNIVERSAL_TAG.sequence) || !tlv.constructed) throw new DerError(`${what} is not a SEQUENCE`);
  return childrenOf(tlv);
}

/**
 * The octets of an OCTET STRING, or of anything implicitly tagged as one:
 * a primitive element's content, or the concatenated pieces of a
 * constructed one (BER; skopeo's encryptedContent is `A0 { 04 ... }`).
 */
export function octetsOf(tlv: Tlv, depth = 0): Buffer {
  if (!tlv.constructed) return tlv.content;
  if (depth >= MAX_DER_DEPTH) throw new DerError('constructed string nested too deeply');
  const pieces = childrenOf(tlv).map((piece) => {
    if (!isUniversal(piece, UNIVERSAL_TAG.octetString)) throw new DerError('constructed string holds a piece that is not an OCTET STRING');
    return octetsOf(piece, depth + 1);
  });
  return Buffer.concat(pieces);
}

/**
 * Dotted form of an OBJECT IDENTIFIER element. An OID longer than any real
 * one, or with an arc past 2^53, is refused before or while reading it, so the
 * work is at most MAX_OID_BYTES steps whatever the element's length.
 */
export function oidOf(tlv: Tlv): string {
  if (!isUniversal(tlv, UNIVERSAL_TAG.oid) || tlv.constructed || tlv.content.length === 0) throw new DerError('expected an OBJECT IDENTIFIER');
  if (tlv.content.length > MAX_OID_BYTES) throw new DerError(`OBJECT IDENTIFIER of ${tlv.content.length} bytes (limit ${MAX_OID_BYTES})`);
  const arcs: number[] = [];
  let value = 0;
  for (const [i, byte] of tlv.content.entries()) {
    if (value > MAX_ARC_BEFORE_SHIFT) throw new DerError('OBJECT IDENTIFIER arc larger than 2^53');
    value = value * 128 + (byte & 0x7f);
    if (byte & 0x80) {
      if (i === tlv.content.length - 1) throw new DerError('OBJECT IDENTIFIER ends inside an arc');
      continue;
    }
    arcs.push(value);
    value = 0;
  }
  const first = arcs[0]!;
  const [top, second] = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [top, second, ...arcs.slice(1)].join('.');
}

/** An INTEGER's magnitude without sign-padding zeros, for comparing serial numbers. */
export function unsignedIntegerOf(tlv: Tlv): Buffer {
  if (!isUniversal(tlv, UNIVERSAL_TAG.integer) || tlv.constructed || tlv.content.length === 0) throw new DerError('expected an INTEGER');
  let start = 0;
  while (start < tlv.content.length - 1 && tlv.content[start] === 0) start++;
  return tlv.content.subarray(start);
}

/** A small non-negative INTEGER (versions, tag lengths). */
export function smallIntegerOf(tlv: Tlv): number {
  const magnitude = unsignedIntegerOf(tlv);
  if ((tlv.content[0]! & 0x80) !== 0 || magnitude.length > 4) throw new DerError('INTEGER out of range');
  return magnitude.readUIntBE(0, magnitude.length);
}

function readTlvAt(bytes: Buffer, start: number, depth: number): Tlv {
  if (depth > MAX_DER_DEPTH) throw new DerError('elements nested too deeply');
  let offset = start;
  const byteAt = (): number => {
    if (offset >= bytes.length) throw new DerError('element runs past the end of its container');
    return bytes[offset++]!;
  };

  const first = byteAt();
  const tagClass = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    let byte: number;
    do {
      byte = byteAt();
      if (tagNumber > 0xffffff) throw new DerError('tag number too large');
      tagNumber = tagNumber * 128 + (byte & 0x7f);
    } while (byte & 0x80);
  }

  const lengthByte = byteAt();
  if (lengthByte === 0x80) {
    if (!constructed) throw new DerError('indefinite length on a primitive element');
    const contentStart = offset;
    for (;;) {
      if (offset + 1 < bytes.length && bytes[offset] === 0 && bytes[offset + 1] === 0) {
        return { tagClass, constructed, tagNumber, element: bytes.subarray(start, offset + 2), content: bytes.subarray(contentStart, offset) };
      }
      offset += readTlvAt(bytes, offset, depth + 1).element.length;
    }
  }
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const octets = lengthByte & 0x7f;
    if (octets > MAX_DER_LENGTH_OCTETS) throw new DerError('element length too large');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + byteAt();
  }
  if (length > bytes.length - offset) throw new DerError('element runs past the end of its container');
  return {
    tagClass,
    constructed,
    tagNumber,
    element: bytes.subarray(start, offset + length),
    content: bytes.subarray(offset, offset + length),
  };
}
