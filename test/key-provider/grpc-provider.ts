/**
 * The test gRPC key provider as a process (for test/fixtures/gen-provider.sh):
 *   node test/key-provider/grpc-provider.ts --listen unix:/path/to.sock
 *   node test/key-provider/grpc-provider.ts --listen 127.0.0.1:0 [--record FILE]
 * Prints its address on stdout once it accepts calls; runs until killed.
 * --record appends every request (one JSON line) to FILE.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startGrpcProvider } from './grpc-server.ts';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, record: { type: 'string' } } });
const record = values.record;
const listen = values.listen.startsWith('unix:') ? { path: values.listen.slice('unix:'.length) } : { port: Number(values.listen.split(':').at(-1)) };
const provider = await startGrpcProvider({ listen, ...(record ? { onRequest: (json: string) => appendFileSync(record, json + '\n') } : {}) });
process.stdout.write(`${provider.address}\n`);
