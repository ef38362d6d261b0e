import { describeKeyMaterial, describeRecipients } from './pgp/description.ts';
import { readSecretKeyrings } from './pgp/keyrings.ts';
import { openWith, recipientsOf } from './pgp/message.ts';
import { failureKind, failureReason, type UnwrapOutcome } from './pgp/reasons.ts';
import { candidatesFor, formatKeyId, recipientsNaming } from './pgp/selection.ts';
import { unlockPackets } from './pgp/unlock.ts';
import { OperationBudget } from './operation-budget.ts';
import { CAN_TRY, UnwrapFailure, cannotTry, type KeyWrapScheme } from './scheme.ts';

/**
 * OpenPGP (gpg) wrapped keys: each item is a binary message whose literal
 * data is the private options JSON. Reached only through the registry's
 * dynamic import, so openpgp is loaded only for layers that carry pgp items.
 */
export const pgpScheme: KeyWrapScheme = {
  name: 'pgp',

  checkKeys(keys) {
    return keys.gpgSecretKeys.length === 0 ? cannotTry('no OpenPGP secret keys supplied') : CAN_TRY;
  },

  async unwrap(items, keys, budget = new OperationBudget()) {
    const { keyrings, unreadable } = await readSecretKeyrings(keys.gpgSecretKeys);
    const outcome: UnwrapOutcome = {
      items: items.length,
      malformedItems: 0,
      recipients: [],
      keyringsRead: keyrings.length,
      unreadableKeyrings: unreadable,
      attempts: [],
    };
    for (const item of items) {
      const recipients = await recipientsOf(item);
      if (recipients === null) {
        outcome.malformedItems++;
        continue;
      }
      outcome.recipients.push(...recipients.map(formatKeyId));
      // Only keys that a PKESK packet names are tried (every key for a hidden recipient).
      for (const candidate of candidatesFor(keyrings, recipients)) {
        const attempt = { keyId: candidate.keyId, origin: candidate.keyring.origin };
        const problem = await unlockPackets(candidate.packets, candidate.keyring.passphrase);
        if (problem !== null) {
          outcome.attempts.push({ ...attempt, problem });
          continue;
        }
        // openpgp tries the key on every PKESK packet that names it (or names no key).
        for (let packet = recipientsNaming(candidate, recipients); packet > 0; packet--) budget.spend('private-key');
        const privateOptions = await openWith(item, candidate.key);
        if (privateOptions !== null) return privateOptions;
        outcome.attempts.push({ ...attempt, problem: 'did-not-open' });
      }
    }
    const { kind, lockedKeys } = failureKind(outcome);
    throw new UnwrapFailure(failureReason(outcome), kind, { lockedKeys });
  },

  describeRecipients,
  describeKeyMaterial,
};
