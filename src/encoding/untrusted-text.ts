/**
 * Text the decoder did not write (from an image, a payload, a key provider, a
 * key file) made fit to show. Such text may hold terminal escapes (ESC, or
 * U+009B, the 8-bit CSI) or line breaks (CR, LF, U+2028) that would split the
 * one line containerd shows, forge a second one, or drive the operator's
 * terminal; bidi controls (U+202E, U+2066) that visually reorder the line
 * an operator reads in `kubectl describe`; or invisible characters (U+200B,
 * U+FEFF) that make two different names look the same. And it may be of any
 * length.
 */

/**
 * Never shown as they are: controls (Cc), format characters (Cf: bidi
 * controls, zero-width characters, BOM, tags), line and paragraph separators
 * (Zl, Zp), private-use (Co) and unassigned (Cn) code points, whose glyphs
 * are up to the terminal.
 */
const UNSAFE_CLASSES = '\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cn}';
// Built on first use, not at load: V8 takes about as long to build these
// Unicode property classes as to decrypt a small layer, and a decode that
// succeeds shows no untrusted text (docs/performance.md, start-up).
let unsafe: RegExp | undefined;
let unsafeOrSpace: RegExp | undefined;

/**
 * Quoted and escaped, JSON style, and cut to `max` characters: for text
 * inside a message, where the reader must see where it starts and ends.
 */
export function quoteUntrusted(text: string, max = 64): string {
  // JSON.stringify escapes only C0 controls and lone surrogates: the rest of the unsafe classes is escaped here, both halves of an astral one.
  return JSON.stringify(cut(text, max)).replace((unsafe ??= new RegExp(`[${UNSAFE_CLASSES}]`, 'gu')), (character) =>
    [...Array(character.length).keys()].map((unit) => `\\u${character.charCodeAt(unit).toString(16).padStart(4, '0')}`).join(''),
  );
}

/**
 * Unquoted, every run of white space and unsafe characters folded to one
 * space, and cut to `max` characters: for text shown on its own (a table
 * cell, a provider's stderr, the error line itself).
 */
export function printable(text: string, max = 200): string {
  return cut(text.replace((unsafeOrSpace ??= new RegExp(`[${UNSAFE_CLASSES}\\s]+`, 'gu')), ' ').trim(), max);
}

/** An ellipsis marks the cut, which never falls between the two halves of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end).trimEnd()}…`;
}
