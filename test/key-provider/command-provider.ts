/**
 * A key-provider command for the tests and for test/fixtures/gen-provider.sh:
 * reads one ocicrypt key-provider request on stdin, answers on stdout.
 *
 *   node test/key-provider/command-provider.ts [--secret command|grpc]
 *     [--optsdata-array] [--record FILE]
 *     [--behave ok|fail|garbage|exit-after-reply]
 *
 * --record appends every request (one JSON line) to FILE.
 */
import { appendFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { PROVIDER_SECRETS, answerRequest, type ProviderSecretName } from './wrapping.ts';

const { values } = parseArgs({
  options: {
    secret: { type: 'string', default: 'command' },
    'optsdata-array': { type: 'boolean', default: false },
    record: { type: 'string' },
    behave: { type: 'string', default: 'ok' },
  },
});

const request = Buffer.from(await text(process.stdin));
if (values.record) appendFileSync(values.record, request.toString('utf8') + '\n');
const secret = PROVIDER_SECRETS[values.secret as ProviderSecretName];

switch (values.behave) {
  case 'ok':
  case 'exit-after-reply': {
    let reply: Buffer;
    try {
      reply = answerRequest(secret, request, { optsDataAsArray: values['optsdata-array'] });
    } catch (error) {
      process.stderr.write(`test provider: cannot answer: ${(error as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.write(reply, () => process.exit(values.behave === 'ok' ? 0 : 3));
    break;
  }
  case 'fail':
    process.stderr.write(`test provider: the key is revoked\n\tsecond line of detail\n${'padding '.repeat(100)}\n`);
    process.exit(7);
    break;
  case 'garbage':
    process.stdout.write('this is not JSON, and it mentions optsdata\n');
    break;
  default:
    process.stderr.write(`test provider: unknown --behave ${values.behave}\n`);
    process.exit(2);
}
