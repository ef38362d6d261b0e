import { DecoderError, InternalError } from '../errors.ts';

/** The one stderr line containerd shows the operator (e.g. in `kubectl describe pod`). */
export function errorLine(error: unknown, layerDigest: string | null): string {
  const decoderError =
    error instanceof DecoderError
      ? error
      : new InternalError(error instanceof Error ? error.message : String(error), 'please report this as a ctd-decoder bug');
  const layer = layerDigest ? ` layer ${layerDigest}` : '';
  const hint = decoderError.hint ? ` — ${decoderError.hint}` : '';
  return `ctd-decoder: ${decoderError.code}${layer}: ${decoderError.message}${hint}`.replace(/[\r\n]+/g, ' ');
}
