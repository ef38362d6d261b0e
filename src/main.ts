import { runDecode } from './cli/decode-command.ts';

/** Entry point of the single executable: containerd runs it once per encrypted layer. */
void runDecode(process.argv.slice(2)).then((exitCode) => {
  if (exitCode !== 0) process.exit(exitCode);
});
