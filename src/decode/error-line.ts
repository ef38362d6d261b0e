import { printable } from '../encoding/untrusted-text.ts';
import { DecoderError, InternalError } from '../errors.ts';

/**
 * Longer than any message the decoder writes (they quote untrusted text cut
 * short): a cap for whatever slipped through, so that the line stays one
 * screenful in `kubectl describe pod`.
 */
export const MAX_ERROR_LINE = 2000;

/** The one stderr line containerd shows the operator (e.g. in `kubectl describe pod`). */
export function errorLine(error: unknown, layerDigest: string | null): string {
  const decoderError =
    error instanceof DecoderError
      ? error
      : new InternalError(error instanceof Error ? error.message : String(error), 'please report this as a ctd-decoder bug');
  const layer = layerDigest ? ` layer ${layerDigest}` : '';
  const hint = decoderError.hint ? ` — ${decoderError.hint}` : '';
  // The last line of defence: image text that reached a message unquoted still cannot break or colour the line.
  return printable(`ctd-decoder: ${decoderError.code}${layer}: ${decoderError.message}${hint}`, MAX_ERROR_LINE);
}
