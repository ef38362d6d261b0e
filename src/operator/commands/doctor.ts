import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../containerd/defaults.ts';
import { diagnose, type Finding, type FindingLevel } from '../doctor/diagnose.ts';
import { UsageError } from '../../errors.ts';
import { installedContainerd, systemProbe } from '../doctor/system-probe.ts';
import { EXIT_FAILURE, output, runCommand, type CommandSpec } from '../run-command.ts';
import { localKeyInventory } from '../local-keys.ts';
import { printable } from '../../encoding/untrusted-text.ts';
import { formatColumns } from '../text.ts';
import { plural } from '../../encoding/plural.ts';

const SPEC: CommandSpec = {
  name: 'doctor',
  help: `Usage: ctd-decoder doctor [--config FILE] [--rootless] [--json]

Checks what decides whether containerd can decrypt images with ctd-decoder:
the config file (default ${DEFAULT_CONFIG_PATH}; for a non-root user, or with
--rootless, ~/.config/containerd/config.toml, which rootless containerd sees as
/etc/containerd/config.toml), the containerd version and what it implies, the
CRI decryption settings, every stream processor (ID, media types, binary,
args, env), the keys directory and the key-provider config.

One line per finding; each problem says how to fix it.
Exit status: 1 when a problem was found, 0 otherwise (warnings included).
`,
  options: { config: { type: 'string' }, rootless: { type: 'boolean' }, json: { type: 'boolean' } },
  positionals: { min: 0, max: 0 },
};

const LEVEL_LABELS: Record<FindingLevel, string> = { ok: 'ok', info: 'info', warning: 'WARNING', problem: 'PROBLEM' };

export function run(argv: readonly string[]): Promise<number> {
  return runCommand(SPEC, argv, async (values) => {
    const rootlessDirectory = join(process.env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'containerd');
    const explicit = typeof values['config'] === 'string' ? values['config'] : null;
    const runsAsUser = process.getuid?.() !== 0;
    const configPath = explicit ?? (runsAsUser || values['rootless'] === true ? join(rootlessDirectory, 'config.toml') : DEFAULT_CONFIG_PATH);
    const rootless = values['rootless'] === true || resolve(configPath) === join(rootlessDirectory, 'config.toml');

    const probe = systemProbe(async (directory) => (await localKeyInventory(directory)).entries);
    const config = probe.readTextFile(configPath);
    if (config !== null && 'error' in config) throw cannotRead(configPath, config.error);
    if (config === null && explicit !== null) throw cannotRead(configPath, 'does not exist');
    const configText = config === null ? null : config.text;

    const findings = await diagnose(
      { configPath, configText, rootlessConfigDirectory: rootless ? dirname(resolve(configPath)) : null, containerd: installedContainerd() },
      probe,
    );
    const count = (level: FindingLevel) => findings.filter((finding) => finding.level === level).length;
    output(
      values,
      () => [
        ...formatColumns(findings.map((finding) => [LEVEL_LABELS[finding.level], finding.area, describe(finding)])),
        `doctor: ${plural(count('problem'), 'problem')}, ${plural(count('warning'), 'warning')}`,
      ],
      () => ({ config: configPath, findings }),
    );
    return count('problem') > 0 ? EXIT_FAILURE : 0;
  });
}

function cannotRead(configPath: string, why: string): UsageError {
  return new UsageError(`doctor: cannot read ${configPath} (${why})`, 'give the containerd config file with --config FILE');
}

function describe(finding: Finding): string {
  return printable(finding.fix === undefined ? finding.message : `${finding.message} — fix: ${finding.fix}`, 1000);
}
