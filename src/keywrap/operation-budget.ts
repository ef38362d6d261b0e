import { MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER, MAX_PROVIDER_CALLS_PER_LAYER, MAX_TOKEN_OPERATIONS_PER_LAYER } from '../limits.ts';

/**
 * What one attempt to open a recipient costs: a private-key operation in
 * this process (RSA or EC, any scheme), one on a PKCS#11 token (C_Decrypt),
 * or a call to a key provider. Token and provider calls count in the total
 * as well as against their own, lower limit.
 */
export type OperationKind = 'private-key' | 'token' | 'provider';

/** The layer's budget for one kind of operation is spent; the message says which, for the error line. */
export class OperationLimitReached extends Error {
  constructor(limit: string) {
    super(`stopped at the limit of ${limit}`);
  }
}

/**
 * The private-key work one layer may cause, shared by every scheme that
 * tries it: each scheme spends before each attempt, so the per-item limits
 * (items x recipients) cannot multiply with the keys and schemes. A spent
 * budget throws OperationLimitReached, which no scheme catches.
 */
export class OperationBudget {
  private total = 0;
  private token = 0;
  private provider = 0;

  spend(kind: OperationKind): void {
    if (this.total >= MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER) throw new OperationLimitReached(`${MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER} private-key operations per layer`);
    if (kind === 'token' && this.token >= MAX_TOKEN_OPERATIONS_PER_LAYER) throw new OperationLimitReached(`${MAX_TOKEN_OPERATIONS_PER_LAYER} PKCS#11 token operations per layer`);
    if (kind === 'provider' && this.provider >= MAX_PROVIDER_CALLS_PER_LAYER) throw new OperationLimitReached(`${MAX_PROVIDER_CALLS_PER_LAYER} key-provider calls per layer`);
    this.total++;
    if (kind === 'token') this.token++;
    if (kind === 'provider') this.provider++;
  }

  /** Operations spent so far, of every kind. */
  get spent(): number {
    return this.total;
  }
}
