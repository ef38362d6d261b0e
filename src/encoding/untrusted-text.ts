/**
 * Text taken from an image or a payload, fit for the one-line error: quoted,
 * control characters escaped (a CR or LF would split the line containerd
 * shows), and cut to `max` characters.
 */
export function quoteUntrusted(text: string, max = 64): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
