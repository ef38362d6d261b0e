// A stand-in for containerd at the moment it runs a stream processor without
// a payload: it holds content-store blob files open (as containerd's content
// store reader does while it unpacks), streams one file through a pipe into
// the decoder's stdin, and gives the decoder no fd 3. The decoder's stdout
// and stderr are ours; we exit with its exit code.
//
//   node containerd-parent.ts [CONTAINERD_ARG...] ::: DECODER STREAM_FILE [HOLD_FILE...] -- [DECODER_ARG...]
//
// Run it through a symlink named "containerd" to look like containerd on
// /proc/<pid>/cmdline; CONTAINERD_ARGs (e.g. --config FILE) stand for containerd's own.
import { spawn } from 'node:child_process';
import { createReadStream, openSync } from 'node:fs';

const start = process.argv.indexOf(':::') + 1;
const separator = process.argv.indexOf('--', start);
const [decoder, streamFile, ...holdFiles] = process.argv.slice(start, separator);
const decoderArgs = process.argv.slice(separator + 1);
if (start === 0 || separator < 0 || decoder === undefined || streamFile === undefined) {
  process.stderr.write('usage: containerd-parent.ts [CONTAINERD_ARG...] ::: DECODER STREAM_FILE [HOLD_FILE...] -- [DECODER_ARG...]\n');
  process.exit(2);
}
// Kept open until we exit, like containerd's readers of the layers it unpacks.
const held = holdFiles.map((file) => openSync(file, 'r'));
const child = spawn(decoder, decoderArgs, { stdio: ['pipe', 'inherit', 'inherit'] });
child.stdin!.on('error', () => {});
createReadStream(streamFile).pipe(child.stdin!);
child.on('close', (code) => {
  void held;
  process.exit(code ?? 1);
});
