/**
 * Every decoder run in the test matrix is checked against the secrets the
 * fixtures hold (key bodies, passwords, HMAC values): none may appear on
 * stderr. Tests add their own (PINs, passphrases) with forbidSecret().
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './paths.ts';

const secrets = new Set<string>();

export function forbidSecret(...values: (string | Buffer)[]): void {
  for (const value of values) {
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    if (text.trim().length >= 4) secrets.add(text.trim());
    if (Buffer.isBuffer(value) && value.length >= 8) {
      secrets.add(value.toString('base64'));
      secrets.add(value.toString('hex'));
    }
  }
}

/** The first known secret found in `text`, or null. */
export function leakedSecret(text: string): string | null {
  for (const secret of secrets) if (text.includes(secret)) return secret;
  return null;
}

function forbidKeyFile(bytes: Buffer, name: string): void {
  const text = bytes.toString('utf8');
  if (name.endsWith('.password') || name.endsWith('.passphrase') || name.endsWith('.pin')) return forbidSecret(text);
  if (text.includes('-----BEGIN')) {
    // Base64 body lines of PEM / armored keys: any one of them leaking is a leak.
    for (const line of text.split('\n')) if (/^[A-Za-z0-9+/=]{40,}$/.test(line.trim())) forbidSecret(line);
  } else if (text.trimStart().startsWith('{')) {
    for (const match of text.matchAll(/"(?:d|p|q|dp|dq|qi)"\s*:\s*"([^"]{16,})"/g)) forbidSecret(match[1]!);
  } else {
    forbidSecret(bytes.subarray(Math.max(0, bytes.length - 64)));
  }
}

function forbidFixtureSecrets(): void {
  for (const scheme of existsSync(FIXTURES) ? readdirSync(FIXTURES) : []) {
    const keys = join(FIXTURES, scheme, 'keys');
    if (existsSync(keys)) {
      for (const name of readdirSync(keys)) {
        const path = join(keys, name);
        if (statSync(path).isFile() && !name.includes('.pub') && !name.includes('cert')) forbidKeyFile(readFileSync(path), name);
      }
    }
    const layers = join(FIXTURES, scheme, 'layers');
    for (const name of existsSync(layers) ? readdirSync(layers) : []) {
      const descriptorPath = join(layers, name, 'descriptor.json');
      if (!existsSync(descriptorPath)) continue;
      const pubopts = JSON.parse(readFileSync(descriptorPath, 'utf8')).annotations?.['org.opencontainers.image.enc.pubopts'];
      const hmac = pubopts ? JSON.parse(Buffer.from(pubopts, 'base64').toString()).hmac : undefined;
      if (typeof hmac === 'string') forbidSecret(Buffer.from(hmac, 'base64'));
    }
  }
}

forbidFixtureSecrets();
