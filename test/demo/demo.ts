/**
 * `make demo`: runs dist/ctd-decoder exactly as containerd would on a bundled
 * sample layer (encrypted by skopeo for the bundled demo key), then lists the
 * decrypted tar.gz and prints its marker file.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePayload } from '../support/payload.ts';
import { DECODER_BIN, runDecoder } from '../support/run-decoder.ts';
import { FIXTURES, keysDirectoryWith, loadLayerCase, sha256 } from '../support/fixtures.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const layer = loadLayerCase('jwe', 'rsa2048-gzip');
const keysDir = keysDirectoryWith('jwe', 'rsa2048.pkcs8.pem');

console.log(`sample layer: ${join(FIXTURES, 'jwe', 'layers', layer.name, 'blob.enc')} (${layer.descriptor.mediaType}, ${layer.encrypted.length} bytes)`);
console.log(`demo key:     ${join(FIXTURES, 'jwe', 'keys', 'rsa2048.pkcs8.pem')}`);
console.log(`running:      ${DECODER_BIN} --decryption-keys-path ${keysDir} < blob.enc 3< payload > layer.tar.gz\n`);

const run = await runDecoder({ args: ['--decryption-keys-path', keysDir], stdin: layer.encrypted, payload: encodePayload(layer.descriptor) });
if (run.code !== 0) {
  process.stderr.write(run.stderr);
  process.exit(1);
}
const output = join(temporaryDirectory(), 'layer.tar.gz');
writeFileSync(output, run.stdout);
const verdict = sha256(run.stdout) === sha256(layer.plain) ? 'byte-identical to the plain layer skopeo started from' : 'DIFFERENT from the plain layer';
console.log(`decrypted ${run.stdout.length} bytes, ${verdict}. Contents:\n`);
console.log(execFileSync('tar', ['-tvzf', output], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
console.log('marker.txt says: ' + execFileSync('tar', ['-xzOf', output, 'marker.txt'], { encoding: 'utf8' }));

console.log('And without the key (what an operator sees in `kubectl describe pod`):');
const failed = await runDecoder({ args: ['--decryption-keys-path', temporaryDirectory()], stdin: layer.encrypted, payload: encodePayload(layer.descriptor) });
console.log(`exit ${failed.code}: ${failed.stderr}`);
