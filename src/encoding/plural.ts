/** "1 key", "2 keys": a count and its noun, for the regular nouns messages count. */
export function plural(count: number, noun: string): string {
  return `${count} ${nounFor(count, noun)}`;
}

/** The noun alone, plural unless `count` is 1: "key ID" or "key IDs". */
export function nounFor(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}
