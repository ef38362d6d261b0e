import { GoJsonError, bytesValue, field, isJsonObject, objectField } from '../../encoding/go-json.ts';
import type { DecryptParameters } from '../../payload/payload.ts';

/**
 * The keyunwrap request as ocicrypt's Go code marshals it, field for field:
 * `keywrapparams` is always present (Go cannot omit a struct, and providers
 * written with serde, such as the confidential-containers attestation agent,
 * require it), `[]byte` values are base64. A null parameter value (Go's nil
 * slice) is sent as "" so that providers typed `map<string, [string]>` accept it.
 */
export function keyUnwrapRequest(parameters: DecryptParameters, annotation: Buffer): Buffer {
  const encodedParameters = Object.fromEntries(
    [...parameters].map(([name, values]) => [name, values.map((value) => (value ?? Buffer.alloc(0)).toString('base64'))]),
  );
  return Buffer.from(
    JSON.stringify({
      op: 'keyunwrap',
      keywrapparams: { ec: null, optsdata: null },
      keyunwrapparams: { dc: { Parameters: encodedParameters }, annotation: annotation.toString('base64') },
    }),
  );
}

/** Why a provider's reply is unusable; the message never quotes the reply (it may hold the layer key). */
export class KeyProviderReplyError extends Error {}

/**
 * The private layer options from `{"keyunwrapresults":{"optsdata":...}}`:
 * base64 text, or an array of byte values as some providers send.
 */
export function optsDataFromReply(reply: Buffer): Buffer {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(reply));
  } catch {
    throw new KeyProviderReplyError(`reply is not JSON (${reply.length} bytes)`);
  }
  if (!isJsonObject(json)) throw new KeyProviderReplyError('reply is not a JSON object');
  let optsData: Buffer | undefined;
  try {
    const results = objectField(json, 'keyunwrapresults', 'reply');
    optsData = results === undefined ? undefined : bytesValue(field(results, 'optsdata'), 'reply keyunwrapresults.optsdata');
  } catch (error) {
    if (error instanceof GoJsonError) throw new KeyProviderReplyError(error.message);
    throw error;
  }
  if (optsData === undefined || optsData.length === 0) throw new KeyProviderReplyError('reply has no keyunwrapresults.optsdata');
  return optsData;
}

/** What one call to a provider gave: its reply (the JSON it wrote), or why there is none. */
export type ProviderCallResult =
  | { reply: Buffer }
  /** `unreachable`: the provider itself failed (not started, down, too slow), so other items are not tried. */
  | { failure: string; unreachable: boolean };
