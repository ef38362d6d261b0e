// Programs from newer Debian suites that the suites run beside the machine's
// own (test/tools/debian-tree.sh fetches each once into build/tools): the
// containerd 2.1 the end-to-end suite runs on, and the upstream decoder it is
// measured against. No side effects on import (unit tests use it too).

import * as path from 'node:path';
import { debianTreeBin } from './oci-image.ts';

interface Tree {
  readonly name: string;
  readonly suite: string;
  readonly packages: readonly string[];
}

const command = (tree: Tree): string => `bash test/tools/debian-tree.sh ${tree.name} ${tree.suite} ${tree.packages.join(' ')}`;

/** Debian forky's containerd 2.1.9 with its runc 1.3 (containerd, ctr, containerd-shim-runc-v2, runc). */
export const CONTAINERD_2_1_TREE: Tree = { name: 'containerd-2.1', suite: 'forky', packages: ['containerd', 'runc'] };
export const CONTAINERD_2_1_COMMAND = command(CONTAINERD_2_1_TREE);

/** Debian trixie's imgcrypt 1.1.11: the upstream ctd-decoder (and ctr-imgcrypt); runs on Debian 12 as it is. */
export const UPSTREAM_IMGCRYPT_TREE: Tree = { name: 'imgcrypt', suite: 'trixie', packages: ['imgcrypt'] };
export const UPSTREAM_IMGCRYPT_COMMAND = command(UPSTREAM_IMGCRYPT_TREE);

/** The bin/ directory of containerd 2.1's tree. */
export function containerd21Bin(): Promise<string> {
  return debianTreeBin(CONTAINERD_2_1_TREE.name, CONTAINERD_2_1_TREE.suite, CONTAINERD_2_1_TREE.packages);
}

/** The upstream decoder's path. */
export async function upstreamDecoder(): Promise<string> {
  return path.join(await debianTreeBin(UPSTREAM_IMGCRYPT_TREE.name, UPSTREAM_IMGCRYPT_TREE.suite, UPSTREAM_IMGCRYPT_TREE.packages), 'ctd-decoder');
}

/** The last line of a failed fetch, for a skip line. */
export function treeFailure(err: unknown): string {
  return (err as Error).message.trim().split('\n').slice(-1)[0] ?? String(err);
}
