import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from '../errors.ts';
import { errorLine } from '../decode/error-line.ts';

export interface CommandSpec {
  name: string;
  /** The help text, starting with the usage line. */
  help: string;
  options: ParseArgsOptionsConfig;
  positionals: { min: number; max: number };
}

export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

export const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/**
 * Runs an operator subcommand with node:util's parseArgs (GNU style, unlike
 * the decode path's Go-style flags): --help prints the help, a usage error
 * exits 2, any other failure prints the one coded line and exits 1.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: readonly string[],
  body: (values: OptionValues, positionals: string[]) => Promise<number>,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    return usageFailure(spec, (error as Error).message);
  }
  const values = parsed.values as OptionValues;
  if (values['help'] === true) {
    process.stdout.write(spec.help);
    return 0;
  }
  const { positionals } = parsed;
  if (positionals.length < spec.positionals.min) return usageFailure(spec, 'missing argument');
  if (positionals.length > spec.positionals.max) return usageFailure(spec, `unexpected argument "${positionals[spec.positionals.max]}"`);
  try {
    return await body(values, positionals);
  } catch (error) {
    process.stderr.write(`${errorLine(error, null)}\n`);
    return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

function usageFailure(spec: CommandSpec, problem: string): number {
  process.stderr.write(`${errorLine(new UsageError(`${spec.name}: ${problem}`, `run ctd-decoder ${spec.name} --help`), null)}\n`);
  return EXIT_USAGE;
}

/** Writes lines to stdout, or the JSON document when --json was given. */
export function output(values: OptionValues, lines: () => readonly string[], json: () => unknown): void {
  process.stdout.write(values['json'] === true ? `${JSON.stringify(json(), null, 2)}\n` : lines().map((line) => `${line}\n`).join(''));
}
