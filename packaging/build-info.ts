// Prints, as one JSON value for esbuild's --define, the bundled packages that
// `ctd-decoder --version --verbose` lists (src/decode/version.ts):
//   node packaging/build-info.ts ARCH
import { runtimeDependencies } from './release-inventory.ts';

const arch = process.argv[2];
if (arch === undefined) throw new Error('usage: build-info.ts ARCH');
const packages = runtimeDependencies().map(({ name, version, license }) => ({ name, version, license }));
process.stdout.write(JSON.stringify({ arch, packages }));
