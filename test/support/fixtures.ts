import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './paths.ts';
import { temporaryDirectory } from './temporary.ts';

export { FIXTURES } from './paths.ts';

export interface LayerCase {
  name: string;
  encrypted: Buffer;
  plain: Buffer;
  descriptor: { mediaType: string; digest: string; size: number; annotations: Record<string, string> };
  recipients: string[];
}

/** One case written by a test/fixtures/gen-*.sh script. */
export function loadLayerCase(scheme: string, name: string): LayerCase {
  const dir = join(FIXTURES, scheme, 'layers', name);
  return {
    name,
    encrypted: readFileSync(join(dir, 'blob.enc')),
    plain: readFileSync(join(dir, 'blob.plain')),
    descriptor: JSON.parse(readFileSync(join(dir, 'descriptor.json'), 'utf8')),
    recipients: readFileSync(join(dir, 'recipients.txt'), 'utf8').split('\n').filter(Boolean),
  };
}

export function layerCaseNames(scheme: string): string[] {
  return readdirSync(join(FIXTURES, scheme, 'layers')).sort();
}

export function fixtureKey(scheme: string, name: string): Buffer {
  return readFileSync(join(FIXTURES, scheme, 'keys', name));
}

/** A keys directory holding copies of the named fixture keys. */
export function keysDirectoryWith(scheme: string, ...names: string[]): string {
  const dir = temporaryDirectory('ctd-decoder-keys-');
  for (const name of names) copyFileSync(join(FIXTURES, scheme, 'keys', name), join(dir, name));
  return dir;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The one-line error format every failure must have. The decoder ends it with
 * a newline only on a terminal (containerd quotes stderr whole); the operator
 * commands always do.
 */
export const ERROR_LINE = /^ctd-decoder: (ERR_[A-Z0-9_]+)(?: layer sha256:[0-9a-f]{64})?: [^\n]+\n?$/;
