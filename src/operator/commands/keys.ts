import { statSync } from 'node:fs';
import { DEFAULT_KEYS_DIRECTORY } from '../containerd/defaults.ts';
import { formatMode } from '../key-inventory.ts';
import { EXIT_FAILURE, output, runCommand, type CommandSpec } from '../run-command.ts';
import { localKeyInventory, relativeTo } from '../local-keys.ts';
import { printable } from '../../encoding/untrusted-text.ts';
import { formatColumns } from '../text.ts';
import { plural } from '../../encoding/plural.ts';

const SPEC: CommandSpec = {
  name: 'keys',
  help: `Usage: ctd-decoder keys [--json] [DIR]

Lists every file of the keys directory (default ${DEFAULT_KEYS_DIRECTORY}) as
the decoder sees it: what it is (algorithm and size, certificate, keyring),
the schemes it can unwrap, the SHA-256 fingerprint of its public key
(\`openssl pkey -pubout -outform DER | sha256sum\` prints the same), and
warnings: passwords needed, files open to group or others, symlinks that
leave the directory.

Exit status: 0 when at least one usable key is found, 1 otherwise.
`,
  options: { json: { type: 'boolean' } },
  positionals: { min: 0, max: 1 },
};

export function run(argv: readonly string[]): Promise<number> {
  return runCommand(SPEC, argv, async (values, positionals) => {
    const directory = positionals[0] ?? DEFAULT_KEYS_DIRECTORY;
    const { entries, missing } = await localKeyInventory(directory);
    const stats = missing ? undefined : statSync(directory);
    const directoryWarnings: string[] = [];
    if (missing) directoryWarnings.push(`${directory} does not exist: create it with install -d -m 0700 ${directory}`);
    if (stats !== undefined && (stats.mode & 0o077) !== 0) directoryWarnings.push(`the directory is open to group or others (mode ${formatMode(stats.mode)}): chmod 700 ${directory}`);
    const usable = entries.filter((entry) => entry.role === 'key').length;

    output(
      values,
      () => {
        const header = `${directory}${stats ? ` (mode ${formatMode(stats.mode)}, owner uid ${stats.uid})` : ''}: ${plural(usable, 'usable key')} in ${plural(entries.length, 'file')}`;
        const rows = entries.map((entry) => [
          printable(relativeTo(directory, entry.path)),
          entry.role,
          printable(entry.what),
          entry.schemes.join(',') || '-',
          entry.fingerprint === null ? '' : entry.fingerprint.slice(0, 'sha256:'.length + 16),
        ]);
        const table = formatColumns([['FILE', 'USE', 'WHAT', 'SCHEMES', 'FINGERPRINT'], ...rows]);
        const lines = [header, ...directoryWarnings.map((warning) => `  warning: ${warning}`), table[0]!];
        entries.forEach((entry, i) => {
          lines.push(table[i + 1]!);
          for (const detail of entry.details) lines.push(`    ${printable(detail)}`);
          for (const warning of entry.warnings) lines.push(`    warning: ${printable(warning)}`);
        });
        return lines;
      },
      () => ({
        directory,
        exists: !missing,
        mode: stats ? formatMode(stats.mode) : null,
        uid: stats?.uid ?? null,
        warnings: directoryWarnings,
        usableKeys: usable,
        files: entries.map(({ keys: _keys, ...entry }) => ({ ...entry, path: relativeTo(directory, entry.path) })),
      }),
    );
    return usable > 0 ? 0 : EXIT_FAILURE;
  });
}
