// Writes to stdout the decryption payload containerd would put on fd 3 for
// the layer descriptor in FILE (JSON), for build-binary.sh's code-cache warm-up:
//   node packaging/warm-up-payload.ts FILE
import { readFileSync } from 'node:fs';
import { encodePayload } from '../test/support/payload.ts';

const descriptorFile = process.argv[2];
if (!descriptorFile) throw new Error('usage: warm-up-payload.ts DESCRIPTOR_JSON');
process.stdout.write(encodePayload(JSON.parse(readFileSync(descriptorFile, 'utf8'))));
