import { PASSWORD_FILE_SUFFIX, isPayloadOrigin, type KeyOrigin } from '../../keys/decryption-keys.ts';
import { nounFor, plural } from '../../encoding/plural.ts';
import type { UnwrapFailureKind } from '../scheme.ts';
import type { UnreadableKeyring } from './keyrings.ts';
import type { UnlockProblem } from './unlock.ts';
import { WILDCARD_KEY_ID } from './selection.ts';

const MAX_ATTEMPTS_SHOWN = 3;

export interface FailedAttempt {
  keyId: string;
  origin: KeyOrigin;
  problem: UnlockProblem | 'did-not-open';
}

/** What the pgp scheme saw while failing, for its one-line reason. */
export interface UnwrapOutcome {
  items: number;
  malformedItems: number;
  /** PKESK key IDs of all items, formatted, in order of appearance. */
  recipients: string[];
  keyringsRead: number;
  unreadableKeyrings: UnreadableKeyring[];
  attempts: FailedAttempt[];
}

/**
 * How the failure counts: no item readable; every key the message names
 * locked or without its secret (nothing usable was supplied); or keys that
 * did not open it. `lockedKeys` when a passphrase was missing or wrong.
 */
export function failureKind(outcome: UnwrapOutcome): { kind: UnwrapFailureKind; lockedKeys: boolean } {
  const lockedKeys = outcome.attempts.some((attempt) => attempt.problem === 'needs-passphrase' || attempt.problem === 'wrong-passphrase');
  if (outcome.malformedItems === outcome.items) return { kind: 'malformed-items', lockedKeys };
  const noUsableKey = outcome.attempts.length > 0 && outcome.attempts.every((attempt) => attempt.problem !== 'did-not-open');
  return { kind: noUsableKey ? 'no-usable-key' : 'no-key-fits', lockedKeys };
}

/**
 * One short line: what each tried key lacked, or which recipients no key
 * matched. Names key IDs and origins only, never key material or passphrases.
 */
export function failureReason(outcome: UnwrapOutcome): string {
  if (outcome.malformedItems === outcome.items) return `no item is a binary OpenPGP message (${outcome.items} malformed)`;
  const notes = [
    ...(outcome.recipients.includes(WILDCARD_KEY_ID) ? ['hidden recipient, so every secret key was tried'] : []),
    ...outcome.unreadableKeyrings.map((entry) => `${entry.origin} ${entry.reason}`),
    ...(outcome.malformedItems > 0 ? [`${outcome.malformedItems} malformed item(s)`] : []),
  ];
  if (outcome.attempts.length === 0) {
    const total = outcome.keyringsRead + outcome.unreadableKeyrings.length;
    return `${unmatched(outcome)} (${[`${plural(total, 'keyring')} tried`, ...notes].join(', ')})`;
  }
  const described = [...new Set(outcome.attempts.map(describeAttempt))];
  const shown = described.slice(0, MAX_ATTEMPTS_SHOWN).join(', ');
  const more = described.length > MAX_ATTEMPTS_SHOWN ? `, and ${described.length - MAX_ATTEMPTS_SHOWN} more` : '';
  return notes.length === 0 ? shown + more : `${shown}${more} (${notes.join(', ')})`;
}

function unmatched(outcome: UnwrapOutcome): string {
  const recipients = [...new Set(outcome.recipients)];
  if (recipients.length === 0) return 'the message names no public-key recipient';
  if (recipients.includes(WILDCARD_KEY_ID)) return 'no secret key to try';
  return `no secret key for recipient ${nounFor(recipients.length, 'key ID')} ${recipients.join(', ')}`;
}

function describeAttempt({ keyId, origin, problem }: FailedAttempt): string {
  switch (problem) {
    case 'needs-passphrase':
      return `key ${keyId} in ${origin} needs a passphrase (${passphraseHint(origin)})`;
    case 'wrong-passphrase':
      return `wrong passphrase for key ${keyId} in ${origin}`;
    case 'no-secret-part':
      return `key ${keyId} in ${origin} has no secret part (a gpg stub)`;
    case 'unsupported-protection':
      return `key ${keyId} in ${origin} is protected in a way this decoder cannot unlock`;
    case 'did-not-open':
      return `key ${keyId} in ${origin} did not open the message`;
  }
}

function passphraseHint(origin: KeyOrigin): string {
  return isPayloadOrigin(origin) ? 'send it in gpg-privatekeys-passwords' : `put it in ${origin}${PASSWORD_FILE_SUFFIX}`;
}
