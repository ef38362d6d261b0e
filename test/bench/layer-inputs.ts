/**
 * Prepares what the benchmark feeds a decoder for one cached layer, using the
 * project's own payload and key-unwrapping code:
 *
 *   node test/bench/layer-inputs.ts LAYER_DIR KEYS_DIR
 *
 * writes LAYER_DIR/payload.bin (the protobuf Any containerd puts on fd 3; the
 * keys stay in KEYS_DIR) and prints `KEY_HEX NONCE_HEX HMAC_HEX`, the layer's
 * AES-256-CTR key, initial counter block and expected HMAC, for openssl.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unwrapLayerKey } from '../../src/decode/unwrap-layer-key.ts';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { decodePayload } from '../../src/payload/payload.ts';
import { readKeysDirectory } from '../../src/platform/keys-directory.ts';
import { encodePayload } from '../support/payload.ts';

const [layerDir, keysDir] = process.argv.slice(2);
if (!layerDir || !keysDir) throw new Error('usage: layer-inputs.ts LAYER_DIR KEYS_DIR');

const payloadBytes = encodePayload(JSON.parse(readFileSync(join(layerDir, 'descriptor.json'), 'utf8')));
writeFileSync(join(layerDir, 'payload.bin'), payloadBytes);

const payload = decodePayload(payloadBytes);
if (payload.descriptor === null) throw new Error(`${layerDir}/descriptor.json names no layer (${payload.missing})`);
const keys = assembleDecryptionKeys(readKeysDirectory(keysDir).files, payload.parameters);
const options = await unwrapLayerKey(payload.descriptor, keys);
console.log([options.symmetricKey, options.nonce, options.hmac].map((bytes) => bytes.toString('hex')).join(' '));
