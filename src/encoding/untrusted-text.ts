/**
 * Text the decoder did not write (from an image, a payload, a key provider, a
 * key file) made fit to show. Such text may hold terminal escapes (ESC, or
 * U+009B, the 8-bit CSI) or line breaks (CR, LF, U+2028) that would split the
 * one line containerd shows, forge a second one, or drive the operator's
 * terminal; and it may be of any length.
 */

/** Control characters and line and paragraph separators: never shown as they are. */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}]/gu;
const UNSAFE_OR_SPACE = /[\p{Cc}\p{Zl}\p{Zp}\s]+/gu;

/**
 * Quoted and escaped, JSON style, and cut to `max` characters: for text
 * inside a message, where the reader must see where it starts and ends.
 */
export function quoteUntrusted(text: string, max = 64): string {
  // JSON.stringify escapes only C0 controls: DEL, the C1 controls and U+2028/U+2029 are escaped here.
  return JSON.stringify(cut(text, max)).replace(UNSAFE, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Unquoted, every run of white space and unsafe characters folded to one
 * space, and cut to `max` characters: for text shown on its own (a table
 * cell, a provider's stderr, the error line itself).
 */
export function printable(text: string, max = 200): string {
  return cut(text.replace(UNSAFE_OR_SPACE, ' ').trim(), max);
}

/** An ellipsis marks the cut, which never falls between the two halves of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end).trimEnd()}…`;
}
