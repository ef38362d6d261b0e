/** 1 for each character of the standard alphabet, by char code. */
const ALPHABET = new Uint8Array(128);
for (const character of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') ALPHABET[character.charCodeAt(0)] = 1;

const PAD = '='.charCodeAt(0);

/**
 * Decodes standard, padded base64 the way Go's base64.StdEncoding does: CR and
 * LF are ignored, anything else that is not canonical is rejected (Node's own
 * decoder silently skips garbage, which would turn a corrupt value into a
 * wrong key instead of an error). Returns null when the text is not base64.
 * One pass over the characters, no regular expression: a backtracking one
 * overflowed V8's regexp stack on a few MB (issue 12).
 */
export function decodeStdBase64(text: string): Buffer | null {
  const compact = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
  return isStdBase64(compact) ? Buffer.from(compact, 'base64') : null;
}

/** Whole 4-character groups of the alphabet, the last one possibly ending in "=" or "==". */
function isStdBase64(text: string): boolean {
  const length = text.length;
  if (length % 4 !== 0) return false;
  const padding = length === 0 ? 0 : text.charCodeAt(length - 1) !== PAD ? 0 : text.charCodeAt(length - 2) === PAD ? 2 : 1;
  const dataEnd = length - padding;
  for (let i = 0; i < dataEnd; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || ALPHABET[code] === 0) return false;
  }
  return true;
}
