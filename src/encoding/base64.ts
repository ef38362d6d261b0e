const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard, padded base64 the way Go's base64.StdEncoding does: CR and
 * LF are ignored, anything else that is not canonical is rejected (Node's own
 * decoder silently skips garbage, which would turn a corrupt value into a
 * wrong key instead of an error). Returns null when the text is not base64.
 */
export function decodeStdBase64(text: string): Buffer | null {
  const compact = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
  if (!STANDARD_BASE64.test(compact)) return null;
  return Buffer.from(compact, 'base64');
}
