// Test keys of every scheme. Each plays two roles: a recipient that skopeo
// encrypts layers for (EncryptionRecipient, see oci-image.ts), and the files
// an operator puts into the node's keys directory to decrypt them (NodeKey,
// written by KeysDir in harness.ts).
//
//   JWE     makeKeyPair:  a private key PEM in the keys directory; skopeo gets
//                         the public key file (jwe:<pub.pem>).
//   OpenPGP GpgHome:      real gpg keys in a private GNUPGHOME (never ~/.gnupg);
//                         the keys directory gets `gpg --export-secret-keys`
//                         output, and NAME.password for a protected key;
//                         skopeo finds pgp:<email> recipients in GNUPGHOME.
//   PKCS#7  makePkcs7Key: an RSA key and a self-signed certificate by openssl;
//                         skopeo gets the certificate (pkcs7:<cert.pem>), the
//                         keys directory the private key, with or without the
//                         certificate.
//   PKCS#11 makePkcs11Key: a SoftHSM2 token under the e2e temp dir with an RSA
//                         key generated on it (test/pkcs11/make-fixtures.sh);
//                         skopeo 1.18 gets the key file (pkcs11:<yaml>), the
//                         keys directory the same key file.
// Key providers hold no key on the node: see key-providers.ts.

import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKEN } from '../pkcs11/fixtures.ts';
import type { Cleanup } from './harness.ts';
import type { EncryptionRecipient } from './oci-image.ts';
import { run } from './run.ts';

/** What an operator puts into the keys directory for one key. */
export interface NodeKey {
  readonly name: string;
  /** File name inside the keys directory -> content. */
  readonly keyFiles: Readonly<Record<string, string | Buffer>>;
}

/** A key that images are encrypted for, and that nodes decrypt them with. */
export interface TestKey extends NodeKey {
  readonly recipient: EncryptionRecipient;
}

// ---------------------------------------------------------------------------
// JWE

export interface KeyPair extends TestKey {
  privatePem: string;
  /** Public key file, for skopeo's --encryption-key jwe:<file>. */
  publicFile: string;
}

export function makeKeyPair(dir: string, name: string, type: 'rsa' | 'ec'): KeyPair {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicFile = path.join(dir, `${name}.pub.pem`);
  fs.writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return {
    name,
    privatePem,
    publicFile,
    recipient: { scheme: 'jwe', encryptionKey: `jwe:${publicFile}` },
    keyFiles: { [`${name}.pem`]: privatePem },
  };
}

// ---------------------------------------------------------------------------
// OpenPGP

export interface GpgKey extends TestKey {
  fingerprint: string;
  /** File name of the passphrase file in the keys directory (NAME.password), for a protected key. */
  passwordFile?: string;
}

/**
 * A private GNUPGHOME. Keys are made one at a time (gpg serialises on the
 * keyring anyway). gpg starts an agent for the home while it makes and exports
 * secret keys: stopAgent() ends it (skopeo's `gpg --export` of public keys
 * needs none and starts none), and the cleanup stack does so again in case a
 * later step started one.
 */
export class GpgHome {
  readonly dir: string;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
  }

  static create(dir: string, cleanup: Cleanup): GpgHome {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const home = new GpgHome(dir);
    cleanup.add(`stop gpg-agent of ${dir}`, () => home.stopAgent());
    return home;
  }

  #gpg(args: string[], passphrase = ''): Promise<string> {
    return run('gpg', ['--homedir', this.dir, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args]);
  }

  async stopAgent(): Promise<void> {
    await run('gpgconf', ['--homedir', this.dir, '--kill', 'all']);
  }

  /**
   * gpg's default key (RSA-3072 primary [SC] with an RSA-3072 encryption
   * subkey), exported with `gpg --export-secret-keys` as `NAME.gpg`. With a
   * passphrase the key is protected by it (checked in the export) and the
   * passphrase goes into `NAME.gpg.password`, first line, as an operator
   * writes it with `echo`. The protection keeps gpg-agent's calibrated S2K
   * count, as on an operator's machine (here the maximum, 65011712): that
   * makes the protected key the slow part of the suite's set-up (3-6 s), and
   * the decoder unlocks what operators' keys really carry.
   */
  makeKey(name: string, opts: { passphrase?: string } = {}): Promise<GpgKey> {
    const made = this.#queue.then(() => this.#makeKey(name, opts.passphrase));
    this.#queue = made.catch(() => undefined);
    return made;
  }

  async #makeKey(name: string, passphrase: string | undefined): Promise<GpgKey> {
    const email = `${name}@ctd-decoder.e2e`;
    const status = await this.#gpg(['--status-fd', '1', '--quick-generate-key', `${name} <${email}>`, 'default', 'default', 'never'], passphrase);
    const fingerprint = /^\[GNUPG:\] KEY_CREATED \w+ ([0-9A-F]{40})$/m.exec(status)?.[1];
    if (!fingerprint) throw new Error(`gpg made no key for ${email}:\n${status}`);
    const exportFile = path.join(this.dir, `${name}.sec.gpg`);
    await this.#gpg(['--output', exportFile, '--export-secret-keys', fingerprint], passphrase);
    const secret = fs.readFileSync(exportFile);

    // The export must be what the test claims: secret parts present, and
    // protected exactly when a passphrase was given.
    const packets = await run('gpg', ['--homedir', this.dir, '--batch', '--list-packets', exportFile]);
    fs.rmSync(exportFile);
    const secretPackets = packets.match(/^:secret (sub )?key packet:/gm)?.length ?? 0;
    if (secretPackets !== 2) throw new Error(`export of ${email} holds ${secretPackets} secret key packets, expected 2`);
    if (/protection/.test(packets) !== (passphrase !== undefined)) {
      throw new Error(`export of ${email} is ${passphrase === undefined ? '' : 'not '}passphrase-protected`);
    }

    const file = `${name}.gpg`;
    const passwordFile = passphrase === undefined ? undefined : `${file}.password`;
    return {
      name,
      fingerprint,
      recipient: { scheme: 'pgp', encryptionKey: `pgp:${email}`, env: { GNUPGHOME: this.dir } },
      keyFiles: passwordFile === undefined ? { [file]: secret } : { [file]: secret, [passwordFile]: `${passphrase}\n` },
      ...(passwordFile === undefined ? {} : { passwordFile }),
    };
  }
}

// ---------------------------------------------------------------------------
// PKCS#7

export interface Pkcs7Key extends TestKey {
  keyPem: string;
  certificateFile: string;
}

/**
 * An RSA-2048 key and a self-signed certificate for it (openssl req -x509).
 * skopeo encrypts for the certificate. The keys directory gets the private
 * key alone (`NAME.key.pem`), or with `certificateInKeysDir` the
 * certificate beside it (`NAME.cert.pem`): the Go decoder needs the
 * certificate (and only takes it from the payload), ours does not.
 */
export async function makePkcs7Key(dir: string, name: string, opts: { certificateInKeysDir: boolean }): Promise<Pkcs7Key> {
  const keyFile = path.join(dir, `${name}.key.pem`);
  const certificateFile = path.join(dir, `${name}.cert.pem`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certificateFile,
    '-subj', `/CN=ctd-decoder e2e ${name}`, '-days', '2',
  ]);
  const keyPem = fs.readFileSync(keyFile, 'utf8');
  fs.rmSync(keyFile);
  if (!keyPem.includes('-----BEGIN PRIVATE KEY-----')) throw new Error(`openssl wrote no PKCS#8 key for ${name}`);
  const keyFiles: Record<string, string> = { [`${name}.key.pem`]: keyPem };
  if (opts.certificateInKeysDir) keyFiles[`${name}.cert.pem`] = fs.readFileSync(certificateFile, 'utf8');
  return {
    name,
    keyPem,
    certificateFile,
    recipient: { scheme: 'pkcs7', encryptionKey: `pkcs7:${certificateFile}` },
    keyFiles,
  };
}

// ---------------------------------------------------------------------------
// PKCS#11

export interface Pkcs11Key extends TestKey {
  /** The key file skopeo encrypts for (its content is also NAME.yaml in the keys directory). */
  keyFile: string;
  /**
   * The module policy (ocicrypt.conf allowing /usr/lib/softhsm/): skopeo gets
   * it as OCICRYPT_CONFIG; the decoder needs one too, on a node through the
   * stream processor's env.
   */
  ocicryptConfig: string;
}

const MAKE_PKCS11_FIXTURES = fileURLToPath(new URL('../pkcs11/make-fixtures.sh', import.meta.url));

/**
 * A SoftHSM2 token ("ctd-test", RSA-2048 key "ctd-key" generated on it by
 * pkcs11-tool) in `dir`, with its own softhsm2.conf and token directory,
 * made by test/pkcs11/make-fixtures.sh (about a second; the layers it also
 * writes for test/binary go unused). The key file names the token and key by
 * label, the module by name, the PIN inline, and points the module at the
 * token's softhsm2.conf through `module.env` (SOFTHSM2_CONF), as an operator
 * writes it. `skopeo` (a 1.18, see skopeoWithPkcs11AndProviders) encrypts
 * for it with OAEP SHA-1, the only OAEP hash SoftHSM2 has.
 */
export async function makePkcs11Key(dir: string, name: string, skopeo: string): Promise<Pkcs11Key> {
  await run('bash', [MAKE_PKCS11_FIXTURES, dir]);
  const keyFile = path.join(dir, 'keys', 'hsm.yaml');
  const yaml = fs.readFileSync(keyFile, 'utf8');
  const softhsmConf = path.join(dir, 'softhsm2.conf');
  if (!yaml.includes(`token=${TOKEN.label};object=${TOKEN.object}`) || !yaml.includes(`SOFTHSM2_CONF: ${softhsmConf}`)) {
    throw new Error(`${keyFile} is not the key file this test expects:\n${yaml}`);
  }
  const ocicryptConfig = path.join(dir, 'ocicrypt.conf');
  return {
    name,
    keyFile,
    ocicryptConfig,
    recipient: {
      scheme: 'pkcs11',
      encryptionKey: `pkcs11:${keyFile}`,
      env: { OCICRYPT_CONFIG: ocicryptConfig, OCICRYPT_OAEP_HASHALG: 'sha1' },
      skopeo,
    },
    keyFiles: { [`${name}.yaml`]: yaml },
  };
}
