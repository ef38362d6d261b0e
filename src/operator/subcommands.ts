/** An operator subcommand: parses its own arguments, prints, returns the exit code. */
export interface Subcommand {
  run(argv: readonly string[]): Promise<number>;
}

/**
 * The words that select a subcommand as the first argument. containerd only
 * ever passes the configured `args` (flags), so none of these can reach the
 * decode path by accident, and each module is loaded only when named: the
 * stream processor starts exactly as fast as without them.
 */
const SUBCOMMANDS: Readonly<Record<string, () => Promise<Subcommand>>> = {
  keys: () => import('./commands/keys.ts'),
  inspect: () => import('./commands/inspect.ts'),
  decrypt: () => import('./commands/decrypt.ts'),
  doctor: () => import('./commands/doctor.ts'),
};

export function subcommandLoader(word: string | undefined): (() => Promise<Subcommand>) | undefined {
  return word !== undefined && Object.hasOwn(SUBCOMMANDS, word) ? SUBCOMMANDS[word] : undefined;
}
