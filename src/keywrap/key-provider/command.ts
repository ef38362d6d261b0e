import { printable } from '../../encoding/untrusted-text.ts';
import type { ProviderCallResult } from './protocol.ts';

/** What running a provider command amounted to, as the platform observed it. */
export type CommandOutcome =
  | { kind: 'exited'; code: number | null; signal: string | null; stdout: Buffer; stderr: Buffer }
  | { kind: 'not-started'; code: string }
  | { kind: 'timed-out'; stderr: Buffer }
  | { kind: 'too-large'; limit: number };

/** A provider command succeeds only by exiting 0; whatever it wrote to stderr explains a failure. */
export function interpretCommandOutcome(outcome: CommandOutcome, timeoutMs: number): ProviderCallResult {
  switch (outcome.kind) {
    case 'not-started':
      return { failure: `cannot be started (${outcome.code})`, unreachable: true };
    case 'timed-out':
      return { failure: `gave no reply within ${timeoutMs} ms and was killed${stderrPart(outcome.stderr)}`, unreachable: true };
    case 'too-large':
      return { failure: `wrote more than ${outcome.limit} bytes and was killed`, unreachable: false };
    case 'exited':
      if (outcome.signal !== null) return { failure: `was killed by ${outcome.signal}${stderrPart(outcome.stderr)}`, unreachable: false };
      if (outcome.code !== 0) return { failure: `exited with status ${outcome.code}${stderrPart(outcome.stderr)}`, unreachable: false };
      return { reply: outcome.stdout };
  }
}

function stderrPart(stderr: Buffer): string {
  const text = printable(stderr.toString('utf8'));
  return text === '' ? '' : `, stderr: "${text}"`;
}
