/**
 * A config's list of strings, whether JSON, YAML or TOML gave it: absent or
 * null is the empty list; anything but an array of strings is `invalid`'s to
 * answer (it throws, or returns the list to use instead).
 */
export function asStringList(value: unknown, invalid: () => string[]): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) return value;
  return invalid();
}
