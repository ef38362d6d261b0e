// The end-to-end environment: a loopback registry and a private containerd,
// all under one fresh temporary directory, torn down completely afterwards
// (processes killed, mounts unmounted, directory removed), even when a test or
// the start-up itself fails.
//
// Two containerd versions (ContainerdFlavor): the machine's 1.6 (Debian 12),
// configured by config-examples/containerd-1.6-config.toml (version 2), and
// 2.1 from a private Debian forky tree (test/tools/debian-tree.sh, with its
// runc 1.3), configured by config-examples/containerd-2-config.toml (version
// 3). Either file is the one we ship, with only its well-known paths
// rewritten (see renderContainerdConfig), plus a short block of
// test-environment settings (testEnvironment), none of which touches
// decryption. The decoder is reached through a recording probe
// (writeDecoderProbe).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { viewSnapshot, removeSnapshot } from './containerd-api.ts';
import { listImages } from './cri.ts';
import type { NodeKey } from './keys.ts';
import { BUSYBOX } from './oci-image.ts';
import { run } from './run.ts';
import { CONTAINERD_2_1_COMMAND, containerd21Bin, treeFailure } from './trees.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------------------
// containerd versions.

/** A containerd version the suite runs on, with the example config it is configured by. */
export interface ContainerdFlavor {
  /** "1.6" or "2.1": what test names show. */
  readonly name: string;
  /** The config version of its example (2 for 1.x, 3 for 2.x). */
  readonly configVersion: 2 | 3;
  readonly exampleConfig: string;
  /** Directory holding containerd, ctr, containerd-shim-runc-v2 and runc, put first on containerd's PATH; null: the machine's own (PATH). */
  readonly binDir: string | null;
}

const example = (name: string): string => path.join(REPO_ROOT, 'config-examples', name);

/** The machine's containerd (Debian 12: 1.6.20), configured by the version 2 example. */
export const CONTAINERD_1_6: ContainerdFlavor = { name: '1.6', configVersion: 2, exampleConfig: example('containerd-1.6-config.toml'), binDir: null };

/** containerd 2.1 from the private forky tree, configured by the version 3 example. */
export async function containerd21(): Promise<ContainerdFlavor> {
  return { name: '2.1', configVersion: 3, exampleConfig: example('containerd-2-config.toml'), binDir: await containerd21Bin() };
}

/**
 * Every flavor the suite runs on, each with its skip line (undefined: it
 * runs). 2.1 skips when its tree cannot be made (no patchelf, no mirror),
 * with the command that makes it; with CI=true that is an error.
 */
export async function containerdFlavors(): Promise<Array<{ flavor: ContainerdFlavor; skip: string | undefined }>> {
  const out: Array<{ flavor: ContainerdFlavor; skip: string | undefined }> = [{ flavor: CONTAINERD_1_6, skip: undefined }];
  try {
    out.push({ flavor: await containerd21(), skip: undefined });
  } catch (err) {
    const line = `containerd 2.1 end-to-end suite needs its private tree: ${treeFailure(err)} (enable: apt-get install patchelf; ${CONTAINERD_2_1_COMMAND})`;
    if (process.env.CI === 'true') throw new Error(`${line} (CI=true: not skipping)`);
    out.push({ flavor: { name: '2.1', configVersion: 3, exampleConfig: example('containerd-2-config.toml'), binDir: null }, skip: line });
  }
  return out;
}

/** A program of the flavor: from its tree, or the machine's. */
export function flavorProgram(flavor: ContainerdFlavor, program: 'containerd' | 'ctr' | 'runc'): string {
  return flavor.binDir === null ? program : path.join(flavor.binDir, program);
}

/** The decoder under test. */
export function decoderBinary(): string {
  return process.env.CTD_DECODER_BIN ?? path.join(REPO_ROOT, 'dist', 'ctd-decoder');
}

// ---------------------------------------------------------------------------
// Prerequisites and the skip rule.

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir || '.', cmd), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** True when the ELF file has no PT_INTERP program header (a static binary runs in any rootfs). */
function isStaticElf(file: string): boolean {
  try {
    const b = fs.readFileSync(file);
    if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
    const phoff = Number(b.readBigUInt64LE(0x20));
    const phentsize = b.readUInt16LE(0x36);
    const phnum = b.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
    return true;
  } catch {
    return false;
  }
}

/** What is missing to run the suite, as install hints; empty when everything is there. */
export function missingPrerequisites(): string[] {
  const packages: string[] = [];
  const want = (ok: boolean, pkg: string): void => {
    if (!ok && !packages.includes(pkg)) packages.push(pkg);
  };
  want(onPath('containerd') && onPath('ctr'), 'containerd');
  want(onPath('runc'), 'runc');
  want(onPath('unshare'), 'util-linux');
  want(onPath('docker-registry'), 'docker-registry');
  want(onPath('skopeo'), 'skopeo');
  want(onPath('umoci'), 'umoci');
  want(onPath('gpg') && onPath('gpgconf'), 'gnupg');
  want(onPath('openssl'), 'openssl');
  want(isStaticElf(BUSYBOX), 'busybox-static');
  want(onPath('mount') && onPath('umount'), 'mount');
  const problems: string[] = [];
  if (packages.length) problems.push(`apt-get install ${packages.join(' ')} (or make test-deps)`);
  if (process.getuid?.() !== 0) problems.push('run as root (containerd and mounts need it)');
  const bin = decoderBinary();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    problems.push(`build the decoder (${bin} is missing; or set CTD_DECODER_BIN)`);
  }
  return problems;
}

/**
 * The skip rule: undefined when the suite can run; otherwise the one line to
 * show. With CI=true a missing prerequisite is an error, not a skip.
 */
export function skipReason(): string | undefined {
  const problems = missingPrerequisites();
  if (problems.length === 0) return undefined;
  const line = `containerd end-to-end suite needs: ${problems.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(`${line} (CI=true: not skipping)`);
  return line;
}

// ---------------------------------------------------------------------------
// Cleanup: a stack of undo steps, plus a last-resort exit hook.

const livePids = new Set<number>();
const liveDirs = new Set<string>();

/** Mount points at or below dir, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => unescape(line.split(' ')[4]!))
    .filter((mp) => mp === dir || mp.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

function unmountAllSync(dir: string): void {
  for (const mp of mountsUnder(dir)) {
    try {
      execFileSync('umount', [mp], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
      } catch {
        /* reported by the caller's final check */
      }
    }
  }
}

// Last resort, for when the test process ends without running its after()
// hooks: an uncaught error, process.exit(), or a signal (the test runner
// kills its file processes with SIGTERM when it is interrupted or its output
// pipe breaks). Daemons get SIGKILL, mounts are detached, the directory goes.
function emergencyCleanup(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  livePids.clear();
  for (const dir of liveDirs) {
    unmountAllSync(dir);
    if (!process.env.E2E_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  }
  liveDirs.clear();
}
process.once('exit', emergencyCleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    emergencyCleanup();
    process.exit(128 + os.constants.signals[signal]);
  });
}

export class Cleanup {
  readonly #steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];

  add(what: string, fn: () => Promise<void> | void): void {
    this.#steps.push({ what, fn });
  }

  /** Runs every step, last added first; returns the failures instead of stopping at the first. */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.fn();
      } catch (err) {
        failures.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    return failures;
  }
}

// ---------------------------------------------------------------------------
// Daemons.

export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
}

export function startDaemon(name: string, cmd: string, args: string[], logFile: string, cwd: string, env: NodeJS.ProcessEnv = process.env): Daemon {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  livePids.add(pid);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      livePids.delete(pid);
      resolve(code);
    });
    child.once('error', () => {
      livePids.delete(pid);
      resolve(null);
    });
  });
  return { name, child, logFile, exited };
}

export async function stopDaemon(d: Daemon, graceMs = 5000): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const timer = setTimeout(() => d.child.kill('SIGKILL'), graceMs);
  await d.exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function waitFor(what: string, d: Daemon, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      throw new Error(`${d.name} exited during start-up (${d.child.exitCode ?? d.child.signalCode}):\n${tail(d.logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${tail(d.logFile)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// The registry.

export interface Registry {
  /** host:port, e.g. 127.0.0.1:40123 */
  readonly host: string;
  /** The filesystem store (for tampering with blobs in place). */
  readonly storage: string;
  readonly daemon: Daemon;
}

export async function startRegistry(dir: string, cleanup: Cleanup): Promise<Registry> {
  const storage = path.join(dir, 'storage');
  fs.mkdirSync(storage, { recursive: true });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const config = path.join(dir, 'config.yml');
    // No blob descriptor cache: tampering with the store shows up at once.
    fs.writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${storage}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        '',
      ].join('\n'),
    );
    const daemon = startDaemon('docker-registry', 'docker-registry', ['serve', config], path.join(dir, 'registry.log'), dir);
    cleanup.add('stop docker-registry', () => stopDaemon(daemon));
    try {
      await waitFor('docker-registry', daemon, 15_000, async () => (await fetch(`http://${host}/v2/`)).status === 200);
      return { host, storage, daemon };
    } catch (err) {
      lastError = err as Error; // most likely the port was taken meanwhile: try another
      await stopDaemon(daemon);
    }
  }
  throw lastError!;
}

// ---------------------------------------------------------------------------
// containerd's configuration, from the shipped example.

export interface ContainerdPaths {
  decoder: string;
  keysDir: string;
  keyProviderConfig: string;
  /** Where OCICRYPT_CONFIG points when the config sets it (the example may not: see withProcessorEnv). */
  ocicryptConfig: string;
  hostsDir: string;
  root: string;
  state: string;
}

/**
 * The example's well-known paths and what the test puts in their place. The
 * example is written so that plain string replacement of these is all it
 * takes; the longer ones come first where one is a prefix of another.
 * `optional`: rewritten if the example mentions it, not required to.
 */
function substitutions(p: ContainerdPaths): Array<[from: string, to: string, optional?: 'optional']> {
  return [
    ['/usr/local/bin/ctd-decoder', p.decoder],
    ['/etc/containerd/ocicrypt/keys', p.keysDir],
    ['/etc/containerd/ocicrypt/ocicrypt_keyprovider.conf', p.keyProviderConfig],
    // OCICRYPT_CONFIG (PKCS#11 module allow-list), where the examples suggest putting it.
    ['/etc/containerd/ocicrypt/ocicrypt.conf', p.ocicryptConfig, 'optional'],
    ['/etc/containerd/certs.d', p.hostsDir],
    ['/var/lib/containerd', p.root],
    ['/run/containerd', p.state],
  ];
}

/**
 * Settings the test environment needs and a user's node does not, none about
 * decryption: "native" snapshots work on every filesystem (CI often runs on
 * overlayfs, where overlayfs snapshots cannot nest), for CRI and (2.x) for the
 * transfer service's unpacker; CNI, the opt plugin and
 * (2.x) NRI, CDI and the image verifiers would otherwise use /etc, /opt and
 * /var/run, which concurrent test runs would share.
 * `tables` are appended after the example (which must not define them);
 * `intoTable` are keys added to a table the example defines.
 */
function testEnvironment(version: 2 | 3, dir: string): { tables: Array<[header: string, body: string[]]>; intoTable?: [header: string, keys: string[]] } {
  if (version === 2) {
    return {
      tables: [
        ['[plugins."io.containerd.grpc.v1.cri".containerd]', ['snapshotter = "native"']],
        ['[plugins."io.containerd.grpc.v1.cri".cni]', [`bin_dir = "${dir}/cni/bin"`, `conf_dir = "${dir}/cni/conf"`]],
        ['[plugins."io.containerd.internal.v1.opt"]', [`path = "${dir}/opt"`]],
      ],
    };
  }
  return {
    intoTable: ["[plugins.'io.containerd.cri.v1.images']", ["snapshotter = 'native'"]],
    tables: [
      ["[plugins.'io.containerd.cri.v1.runtime']", ['cdi_spec_dirs = []']],
      ["[plugins.'io.containerd.cri.v1.runtime'.cni]", [`bin_dirs = ['${dir}/cni/bin']`, `conf_dir = '${dir}/cni/conf'`]],
      ["[plugins.'io.containerd.internal.v1.opt']", [`path = '${dir}/opt'`]],
      ["[plugins.'io.containerd.nri.v1.nri']", ['disable = true']],
      ["[plugins.'io.containerd.image-verifier.v1.bindir']", [`bin_dir = '${dir}/image-verifier'`]],
      // The transfer service unpacks only for platform/snapshotter pairs it is
      // given; by default that is the default snapshotter (overlayfs) alone.
      ["[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]", ["platform = 'linux/amd64'", "snapshotter = 'native'"]],
    ],
  };
}

const isComment = (line: string): boolean => /^\s*(#|$)/.test(line);

/** A table header, quotes normalised (containerd's own files use ' in version 3, " in version 2). */
const tableKey = (header: string): string => header.trim().replace(/'/g, '"');

/**
 * The example with its paths replaced. Fails if the example gained an absolute
 * path the harness does not know (it would point a test at the real system),
 * or lost one of the paths it should carry.
 */
export function renderContainerdConfig(example: string, p: ContainerdPaths, dir: string, version: 2 | 3 = 2): string {
  return renderExample(example, substitutions(p), [], dir, version);
}

/**
 * A rootless example: its /etc/containerd paths stay as they are (inside
 * rootless containerd's mount namespace they are ~/.config/containerd), only
 * the decoder's path is rewritten.
 */
export function renderRootlessConfig(example: string, decoder: string, dir: string, version: 2 | 3): string {
  return renderExample(example, [['/usr/local/bin/ctd-decoder', decoder]], ['/etc/containerd'], dir, version);
}

function renderExample(example: string, subs: ReturnType<typeof substitutions>, kept: readonly string[], dir: string, version: 2 | 3): string {
  const code = example.split('\n').filter((l) => !isComment(l));
  for (const line of code) {
    for (const m of line.matchAll(/(?<=["'=])\/[^"'\s,]*/g)) {
      if (![...subs.map(([from]) => from), ...kept].some((from) => m[0] === from || m[0].startsWith(from + '/'))) {
        throw new Error(`example config has a path the e2e harness does not rewrite: ${m[0]}`);
      }
    }
  }
  let out = example;
  for (const [from, to, optional] of subs) {
    if (!optional && !code.some((l) => l.includes(from))) throw new Error(`example config no longer mentions ${from}`);
    out = out.split(from).join(to);
  }
  const headers = new Set(code.filter((l) => /^\s*\[/.test(l)).map(tableKey));
  const env = testEnvironment(version, dir);
  for (const [header] of env.tables) {
    if (headers.has(tableKey(header))) throw new Error(`example config defines ${header}; the harness appends its own`);
  }
  if (env.intoTable) {
    const [header, keys] = env.intoTable;
    const lines = out.split('\n');
    const at = lines.findIndex((l) => tableKey(l) === tableKey(header));
    if (at < 0) throw new Error(`example config no longer defines ${header}`);
    lines.splice(at + 1, 0, ...keys.map((k) => `  ${k}  # test environment (harness.ts)`));
    out = lines.join('\n');
  }
  const appended = env.tables.map(([header, body]) => [header, ...body.map((l) => `  ${l}`)].join('\n')).join('\n');
  return `${out}\n# ---- appended by test/e2e/harness.ts: test-environment settings, not part of the example ----\n${appended}\n`;
}

/** The config without its [stream_processors] tables: containerd's built-in processors then run `ctd-decoder` from its PATH (the zero-config install). */
export function withoutStreamProcessors(config: string): string {
  let inProcessors = false;
  const kept = config.split('\n').filter((line) => {
    const table = /^\s*\[(.*)\]\s*$/.exec(line);
    if (table) inProcessors = /^stream_processors(\.|$)/.test(table[1]!.trim());
    return !inProcessors;
  });
  if (kept.length === config.split('\n').length) throw new Error('withoutStreamProcessors: the config has no [stream_processors] section');
  return kept.join('\n');
}

/**
 * What an operator does to give the decoder more environment: each
 * `[stream_processors."…"]` entry's `env` list gets `NAME=value` for every
 * variable (replacing an entry of the same name if there is one). For
 * ContainerdOptions.transformConfig; fails unless every processor entry has
 * an `env` line of its own (as the example's do).
 */
export function withProcessorEnv(config: string, vars: Readonly<Record<string, string>>): string {
  const lines = config.split('\n');
  let inProcessor = false;
  let processors = 0;
  let envLines = 0;
  const out = lines.map((line) => {
    const table = /^\s*\[(.*)\]\s*$/.exec(line);
    if (table) {
      inProcessor = /^stream_processors\.["'][^"']+["']$/.test(table[1]!.trim());
      if (inProcessor) processors++;
      return line;
    }
    const env = /^(\s*env\s*=\s*)\[(.*)\]\s*$/.exec(line);
    if (!inProcessor || !env) return line;
    envLines++;
    const entries = JSON.parse(`[${env[2]!.replace(/'/g, '"')}]`) as string[];
    const kept = entries.filter((e) => !Object.hasOwn(vars, e.slice(0, e.indexOf('='))));
    const added = Object.entries(vars).map(([name, value]) => `${name}=${value}`);
    return `${env[1]}[${[...kept, ...added].map((e) => JSON.stringify(e)).join(', ')}]`;
  });
  if (processors === 0 || envLines !== processors) {
    throw new Error(`withProcessorEnv: ${processors} stream processor entries but ${envLines} single-line env lists in them`);
  }
  return out.join('\n');
}

/**
 * The CRI setting that makes containerd >= 2.1 pull through its local pull
 * path, which sends the decoder its payload, instead of the transfer service
 * (its default, and the shipped version 3 example's: no payload, the decoder
 * looks each layer up). Fails if the config already says either way or has
 * no version 3 CRI image table.
 */
export function withLocalImagePull(config: string): string {
  if (/^\s*use_local_image_pull\s*=/m.test(config)) throw new Error('withLocalImagePull: the config already sets use_local_image_pull');
  const lines = config.split('\n');
  const at = lines.findIndex((l) => tableKey(l) === tableKey("[plugins.'io.containerd.cri.v1.images']"));
  if (at < 0) throw new Error('withLocalImagePull: the config has no version 3 CRI image table');
  lines.splice(at + 1, 0, '  use_local_image_pull = true');
  return lines.join('\n');
}

/**
 * Upstream's strictness: "--require-payload" added to every stream
 * processor's args, so that a call without a payload fails (ERR_NO_PAYLOAD)
 * instead of looking the layer up. Fails unless every processor entry has a
 * single-line args list (as the examples' do).
 */
export function withRequirePayload(config: string): string {
  let inProcessor = false;
  let processors = 0;
  let argsLines = 0;
  const out = config.split('\n').map((line) => {
    const table = /^\s*\[(.*)\]\s*$/.exec(line);
    if (table) {
      inProcessor = /^stream_processors\.["'][^"']+["']$/.test(table[1]!.trim());
      if (inProcessor) processors++;
      return line;
    }
    if (!inProcessor || !/^\s*args\s*=\s*\[.*\]\s*$/.test(line)) return line;
    argsLines++;
    return line.replace(/\]\s*$/, ", '--require-payload']");
  });
  if (processors === 0 || argsLines !== processors) throw new Error(`withRequirePayload: ${processors} stream processor entries but ${argsLines} single-line args lists in them`);
  return out.join('\n');
}

/** The config without its CRI image_decryption table (key_model then is containerd's default, "node"): for the zero-config install. */
export function withoutImageDecryption(config: string): string {
  let inTable = false;
  let found = false;
  const kept = config.split('\n').filter((line) => {
    const table = /^\s*\[(.*)\]\s*$/.exec(line);
    if (table) {
      inTable = /\.image_decryption["']?$/.test(table[1]!.trim());
      found ||= inTable;
    }
    return !inTable;
  });
  if (!found) throw new Error('withoutImageDecryption: the config has no image_decryption table');
  return kept.join('\n');
}

// ---------------------------------------------------------------------------
// The decoder probe.

/**
 * containerd runs the example's path; the harness puts there a short shell
 * script that records how it was called (STREAM_PROCESSOR_MEDIATYPE, what fd
 * 3 is, the arguments) and then execs the decoder under test. exec keeps the
 * process, its fds (0, 1, 2, and 3 when present), environment and arguments:
 * the decoder sees exactly what containerd gave. The log is the evidence for
 * what containerd hands each processor.
 *
 * "Lose the race" mode (Containerd.loseExitStatusRace): containerd 1.6 checks
 * a processor's exit status only if its wait goroutine has finished when the
 * layer stream ends, and that goroutine also waits for stderr to reach EOF
 * (containerd#6914). In this mode the probe leaves a `sleep` holding the
 * stderr pipe open for a while, so containerd deterministically misses the
 * decoder's exit status and judges the layer by the bytes on stdout alone:
 * the worst case of that race, on every pull.
 */
export interface ProbeFiles {
  /** One line per processor call: media type, fd 3, arguments (tab-separated). */
  log: string;
  /** Present = "lose the race" mode on. */
  loseRaceFlag: string;
  /** PIDs of the sleepers holding stderr open. */
  sleepers: string;
}

export function probeFiles(dir: string): ProbeFiles {
  return {
    log: path.join(dir, 'processor-calls.log'),
    loseRaceFlag: path.join(dir, 'lose-exit-status-race'),
    sleepers: path.join(dir, 'stderr-holders.pids'),
  };
}

export function writeDecoderProbe(file: string, decoder: string, p: ProbeFiles): void {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(
    file,
    [
      '#!/bin/sh',
      `printf '%s\\t%s\\t%s\\n' "$STREAM_PROCESSOR_MEDIATYPE" "$(readlink /proc/self/fd/3 2>/dev/null || echo none)" "$*" >> ${q(p.log)}`,
      `if [ -e ${q(p.loseRaceFlag)} ]; then sleep 3 </dev/null >/dev/null 3<&- & echo $! >> ${q(p.sleepers)}; fi`,
      `exec ${q(decoder)} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

const keyProviderConfigPath = (dir: string): string => path.join(dir, 'ocicrypt_keyprovider.conf');
const ocicryptConfigPath = (dir: string): string => path.join(dir, 'ocicrypt.conf');

export interface ProcessorCall {
  mediaType: string;
  /** readlink of fd 3 as the decoder started: "pipe:[123]" when containerd sent a payload, "none" when fd 3 was closed. */
  fd3: string;
  args: string;
}

/** Every processor call the probe has recorded so far. */
export function readProcessorCalls(p: ProbeFiles): ProcessorCall[] {
  return fs
    .readFileSync(p.log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [mediaType = '', fd3 = '', args = ''] = line.split('\t');
      return { mediaType, fd3, args };
    });
}

// ---------------------------------------------------------------------------
// containerd.

export interface ContainerdOptions {
  /** Name of the instance's directory under the environment's temp dir. */
  name: string;
  flavor: ContainerdFlavor;
  decoder: string;
  keysDir: string;
  hostsDir: string;
  /**
   * "configured" (default): the example as shipped, its [stream_processors]
   * running the decoder at the example's path.
   * "zero-config" (the package install that changes nothing in config.toml):
   * the example without [stream_processors] and without the CRI
   * image_decryption table, so that containerd's built-in
   * processors run `ctd-decoder` from containerd's PATH with
   * `--decryption-keys-path /etc/containerd/ocicrypt/keys`. Those paths are
   * fixed in containerd, so containerd runs in a private mount namespace
   * (unshare -m) where the instance's etc-containerd directory is bind-mounted
   * over /etc/containerd and keysDir over its ocicrypt/keys: no host file is
   * touched, and the host's /etc/containerd stays as it is for everyone else.
   */
  install?: 'configured' | 'zero-config';
  /** Applied to the rendered config (for variants of the example), with the paths it was rendered with; identity by default. */
  transformConfig?: (config: string, paths: ContainerdPaths) => string;
}

/** Where /etc/containerd/ocicrypt lives for a zero-config instance (see ContainerdOptions.install). */
const zeroConfigEtc = (dir: string): string => path.join(dir, 'etc-containerd');

export class Containerd {
  readonly dir: string;
  readonly flavor: ContainerdFlavor;
  readonly socket: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly snapshotDir: string;
  /** The example's OCICRYPT_KEYPROVIDER_CONFIG, rewritten; absent ("no key providers") unless a test writes it. */
  readonly keyProviderConfig: string;
  /** /etc/containerd/ocicrypt/ocicrypt.conf, rewritten: what OCICRYPT_CONFIG names if the config sets it; absent unless a test writes it. */
  readonly ocicryptConfig: string;
  readonly daemon: Daemon;
  readonly #probe: ProbeFiles;

  private constructor(dir: string, flavor: ContainerdFlavor, socket: string, configFile: string, daemon: Daemon, zeroConfig: boolean) {
    this.dir = dir;
    this.flavor = flavor;
    this.socket = socket;
    this.configFile = configFile;
    this.logFile = daemon.logFile;
    this.#probe = probeFiles(dir);
    this.snapshotDir = path.join(dir, 'root', 'io.containerd.snapshotter.v1.native', 'snapshots');
    const ocicrypt = zeroConfig ? path.join(zeroConfigEtc(dir), 'ocicrypt') : dir;
    this.keyProviderConfig = keyProviderConfigPath(ocicrypt);
    this.ocicryptConfig = ocicryptConfigPath(ocicrypt);
    this.daemon = daemon;
  }

  static async start(parent: string, opts: ContainerdOptions, cleanup: Cleanup): Promise<Containerd> {
    const dir = path.join(parent, opts.name);
    const zeroConfig = opts.install === 'zero-config';
    for (const sub of ['root', 'state', 'bin', 'cni/bin', 'cni/conf', 'opt', 'image-verifier']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const socket = path.join(dir, 'state', 'containerd.sock');
    if (Buffer.byteLength(socket + '.ttrpc') > 100) throw new Error(`socket path too long for a unix socket: ${socket} (set TMPDIR shorter)`);
    const probe = path.join(dir, 'bin', 'ctd-decoder');
    const files = probeFiles(dir);
    fs.writeFileSync(files.log, '');
    writeDecoderProbe(probe, opts.decoder, files);
    const paths: ContainerdPaths = {
      decoder: probe,
      keysDir: opts.keysDir,
      keyProviderConfig: keyProviderConfigPath(dir), // absent unless a test writes it: "no key providers"
      ocicryptConfig: ocicryptConfigPath(dir), // absent unless a test writes it
      hostsDir: opts.hostsDir,
      root: path.join(dir, 'root'),
      state: path.join(dir, 'state'),
    };
    let config = renderContainerdConfig(fs.readFileSync(opts.flavor.exampleConfig, 'utf8'), paths, dir, opts.flavor.configVersion);
    if (zeroConfig) config = withoutImageDecryption(withoutStreamProcessors(config));
    if (opts.transformConfig) config = opts.transformConfig(config, paths);
    const configFile = path.join(dir, 'config.toml');
    fs.writeFileSync(configFile, config);

    // The flavor's shim and runc, and (zero-config) the probe as `ctd-decoder`, first on containerd's PATH.
    const pathDirs = [...(zeroConfig ? [path.dirname(probe)] : []), ...(opts.flavor.binDir ? [opts.flavor.binDir] : []), process.env.PATH ?? '/usr/bin:/bin'];
    const env = { ...process.env, PATH: pathDirs.join(':') };
    const containerd = flavorProgram(opts.flavor, 'containerd');
    let command = containerd;
    let args = ['--config', configFile];
    if (zeroConfig) {
      const etc = zeroConfigEtc(dir);
      fs.mkdirSync(path.join(etc, 'ocicrypt', 'keys'), { recursive: true });
      command = 'unshare';
      args = [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        'mount --bind "$1" /etc/containerd && mount --bind "$2" /etc/containerd/ocicrypt/keys && shift 2 && exec "$@"',
        'sh',
        etc,
        opts.keysDir,
        containerd,
        ...args,
      ];
    }
    const daemon = startDaemon(`containerd ${opts.flavor.name} (${opts.name})`, command, args, path.join(dir, 'containerd.log'), dir, env);
    cleanup.add(`stop containerd (${opts.name})`, () => stopDaemon(daemon, 10_000));
    // Ready when CRI answers (it reports "not initialized" for a moment after the socket appears).
    await waitFor(`containerd CRI (${opts.name})`, daemon, 30_000, async () => {
      if (!fs.existsSync(socket)) return false;
      await listImages(socket, 2000);
      return true;
    });
    const ctd = new Containerd(dir, opts.flavor, socket, configFile, daemon, zeroConfig);
    cleanup.add(`end stderr holders (${opts.name})`, () => ctd.loseExitStatusRace(false));
    return ctd;
  }

  stop(): Promise<void> {
    this.loseExitStatusRace(false);
    return stopDaemon(this.daemon, 10_000);
  }

  /** Switches the probe's "lose the race" mode (see writeDecoderProbe); switching off ends the sleepers it started. */
  loseExitStatusRace(on: boolean): void {
    if (on) {
      fs.writeFileSync(this.#probe.loseRaceFlag, '');
      return;
    }
    fs.rmSync(this.#probe.loseRaceFlag, { force: true });
    if (!fs.existsSync(this.#probe.sleepers)) return;
    for (const pid of fs.readFileSync(this.#probe.sleepers, 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already exited */
      }
    }
    fs.rmSync(this.#probe.sleepers, { force: true });
  }

  /** The flavor's own ctr, on this instance's CRI namespace. */
  ctr(args: string[]): Promise<string> {
    return run(flavorProgram(this.flavor, 'ctr'), ['--address', this.socket, '--namespace', 'k8s.io', ...args]);
  }

  /** Snapshots of the CRI namespace in the native snapshotter, as "key kind" strings, sorted. */
  async snapshots(): Promise<string[]> {
    const out = await this.ctr(['snapshots', '--snapshotter', 'native', 'ls']);
    return out
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((cols) => cols[0])
      .map((cols) => `${cols[0]} ${cols[cols.length - 1]}`)
      .sort();
  }

  /** The native snapshotter's directories on disk (removed by containerd's garbage collector, shortly after the metadata). */
  snapshotDirs(): string[] {
    return fs.existsSync(this.snapshotDir) ? fs.readdirSync(this.snapshotDir).sort() : [];
  }

  /** Every processor call recorded so far. */
  processorCalls(): ProcessorCall[] {
    return readProcessorCalls(this.#probe);
  }

  /**
   * Reads files out of a committed snapshot the way a consumer would: a
   * read-only view of it (labelled as a GC root, see containerd-api.ts),
   * mounted on a directory under the environment, then unmounted and removed.
   */
  async readFromSnapshot(chainId: string, files: string[]): Promise<Record<string, string>> {
    const key = `e2e-view-${randomBytes(6).toString('hex')}`;
    const target = path.join(this.dir, 'mnt', key);
    fs.mkdirSync(target, { recursive: true });
    try {
      const mounts = await viewSnapshot(this.socket, 'k8s.io', 'native', key, chainId);
      try {
        if (mounts.length !== 1) throw new Error(`expected one mount for a native view, got ${JSON.stringify(mounts)}`);
        const m = mounts[0]!;
        await run('mount', ['-t', m.type, '-o', m.options.join(',') || 'defaults', m.source, target]);
        try {
          const out: Record<string, string> = {};
          for (const f of files) out[f] = fs.readFileSync(path.join(target, f), 'utf8');
          return out;
        } finally {
          await run('umount', [target]);
        }
      } finally {
        await removeSnapshot(this.socket, 'k8s.io', 'native', key);
      }
    } finally {
      fs.rmSync(target, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------
// Keys.

/**
 * The decoder's keys directory, filled the way an operator fills it: plain
 * files, one per key (plus NAME.password for a protected one), flat, 0600.
 * (The Go reference rejects symlinks and fails on files it does not
 * recognise.) The keys themselves come from keys.ts.
 */
export class KeysDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  /** Makes the directory hold exactly these keys' files. */
  set(keys: readonly NodeKey[]): void {
    const files = new Map<string, string | Buffer>();
    for (const k of keys) {
      for (const [file, content] of Object.entries(k.keyFiles)) {
        if (files.has(file) || file.includes('/')) throw new Error(`key file name ${file} (key ${k.name}) is taken or not a plain name`);
        files.set(file, content);
      }
    }
    for (const f of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, f), { force: true, recursive: true });
    for (const [file, content] of files) fs.writeFileSync(path.join(this.dir, file), content, { mode: 0o600 });
  }
  /** Removes one file (e.g. a password file) until the next set(). */
  remove(file: string): void {
    fs.rmSync(path.join(this.dir, file));
  }
  /** The file names, sorted. */
  files(): string[] {
    return fs.readdirSync(this.dir).sort();
  }
}

// ---------------------------------------------------------------------------
// The whole environment.

/**
 * A fresh directory under TMPDIR for one environment, removed by the cleanup
 * stack (after unmounting whatever is left under it), or by the last-resort
 * exit hook. E2E_KEEP_TMP=1 keeps it.
 */
export function temporaryDirectory(prefix: string, cleanup: Cleanup): string {
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  liveDirs.add(tmp);
  cleanup.add('remove temp dir', () => {
    liveDirs.delete(tmp);
    if (process.env.E2E_KEEP_TMP) console.error(`# e2e: kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  });
  cleanup.add('unmount leftovers', () => {
    const left = mountsUnder(tmp);
    unmountAllSync(tmp);
    if (left.length) throw new Error(`had to unmount ${left.join(', ')}`);
  });
  return tmp;
}

export class E2eEnv {
  readonly flavor: ContainerdFlavor;
  readonly tmp: string;
  readonly cleanup: Cleanup;
  readonly registry: Registry;
  readonly containerd: Containerd;
  readonly keys: KeysDir;
  readonly hostsDir: string;
  readonly work: string;

  private constructor(flavor: ContainerdFlavor, tmp: string, cleanup: Cleanup, registry: Registry, containerd: Containerd, keys: KeysDir, hostsDir: string) {
    this.flavor = flavor;
    this.tmp = tmp;
    this.cleanup = cleanup;
    this.registry = registry;
    this.containerd = containerd;
    this.keys = keys;
    this.hostsDir = hostsDir;
    this.work = path.join(tmp, 'work');
  }

  /** Starts registry and a containerd of the flavor (as configured by its example, then transformConfig if given); on failure tears down what was started and rethrows. */
  static async start(
    decoder: string,
    flavor: ContainerdFlavor,
    initialKeys: readonly NodeKey[] = [],
    transformConfig?: ContainerdOptions['transformConfig'],
  ): Promise<E2eEnv> {
    const cleanup = new Cleanup();
    const tmp = temporaryDirectory(`ctd-e2e-${flavor.name}-`, cleanup);
    try {
      fs.mkdirSync(path.join(tmp, 'work'));
      const keys = new KeysDir(path.join(tmp, 'keys'));
      keys.set(initialKeys);
      const registry = await startRegistry(path.join(tmp, 'registry'), cleanup);
      const hostsDir = path.join(tmp, 'certs.d');
      writeHostsToml(hostsDir, registry.host);
      const containerd = await Containerd.start(tmp, { name: 'containerd', flavor, decoder, keysDir: keys.dir, hostsDir, transformConfig }, cleanup);
      return new E2eEnv(flavor, tmp, cleanup, registry, containerd, keys, hostsDir);
    } catch (err) {
      const failures = await cleanup.run();
      if (failures.length) (err as Error).message += `\n(cleanup: ${failures.join('; ')})`;
      throw err;
    }
  }

  /** Stops everything; throws if anything could not be cleaned up. */
  async stop(): Promise<void> {
    const failures = await this.cleanup.run();
    if (failures.length) throw new Error(`e2e cleanup: ${failures.join('; ')}`);
  }
}

/** containerd's per-registry config: the loopback registry speaks plain HTTP. */
export function writeHostsToml(hostsDir: string, host: string): void {
  const dir = path.join(hostsDir, host);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'hosts.toml'),
    [`server = "http://${host}"`, '', `[host."http://${host}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
  );
}
