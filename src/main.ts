import { runDecode } from './decode/decode-command.ts';
import { subcommandLoader } from './operator/subcommands.ts';
import { OUTPUT_HOLDER_VARIABLE, holdInheritedOutput } from './platform/failure-output.ts';

/** Entry point of the single executable: containerd runs it once per encrypted layer; operators run its subcommands. */
const argv = process.argv.slice(2);
const subcommand = subcommandLoader(argv[0]);
const outputHolder = process.env[OUTPUT_HOLDER_VARIABLE];
if (outputHolder !== undefined) {
  holdInheritedOutput(outputHolder);
} else if (subcommand === undefined) {
  // Exiting explicitly, even on success, skips tearing down the environment
  // and the heap: everything was written synchronously.
  void runDecode(argv).then((exitCode) => process.exit(exitCode));
} else {
  void subcommand()
    .then((command) => command.run(argv.slice(1)))
    .then((exitCode) => {
      process.exitCode = exitCode;
    });
}
