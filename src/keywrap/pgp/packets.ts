import { MAX_OPENPGP_CHUNKS_PER_PACKET, MAX_OPENPGP_PACKETS_PER_ITEM } from '../../limits.ts';

/**
 * Counts an OpenPGP message's packets from their headers alone (RFC 9580
 * section 4.2, both header formats, partial lengths included), in one pass
 * and without parsing any body, so that an item of many tiny packets or
 * chunks is refused before openpgp builds an object for each. Returns why
 * the item is refused, or null; a header running past the end is left for
 * openpgp to report.
 */
export function packetLimitProblem(item: Uint8Array): string | null {
  let offset = 0;
  let packets = 0;
  while (offset < item.length) {
    if (++packets > MAX_OPENPGP_PACKETS_PER_ITEM) return `more than ${MAX_OPENPGP_PACKETS_PER_ITEM} OpenPGP packets (limit ${MAX_OPENPGP_PACKETS_PER_ITEM})`;
    const header = item[offset++]!;
    if ((header & 0x80) === 0) return null;
    if ((header & 0x40) === 0) {
      // Legacy format: the length's size is in the header; type 3 runs to the end of the input.
      const lengthType = header & 0x03;
      if (lengthType === 3) return null;
      const octets = 1 << lengthType;
      if (offset + octets > item.length) return null;
      let length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + item[offset++]!;
      offset += length;
      continue;
    }
    for (let chunks = 1; ; chunks++) {
      if (chunks > MAX_OPENPGP_CHUNKS_PER_PACKET) return `an OpenPGP packet in more than ${MAX_OPENPGP_CHUNKS_PER_PACKET} chunks (limit ${MAX_OPENPGP_CHUNKS_PER_PACKET})`;
      if (offset >= item.length) return null;
      const first = item[offset++]!;
      if (first < 192) {
        offset += first;
        break;
      }
      if (first < 224) {
        if (offset >= item.length) return null;
        offset += ((first - 192) << 8) + item[offset++]! + 192;
        break;
      }
      if (first === 255) {
        if (offset + 4 > item.length) return null;
        const length = ((item[offset]! << 24) >>> 0) + (item[offset + 1]! << 16) + (item[offset + 2]! << 8) + item[offset + 3]!;
        offset += 4 + length;
        break;
      }
      offset += 1 << (first & 0x1f); // A partial length: another length follows this chunk.
    }
  }
  return null;
}
