// Rootless containerd for the end-to-end suite, set up the way
// containerd-rootless.sh (nerdctl) does it: rootlesskit (Debian's rootlesskit
// and uidmap) started by an unprivileged user makes a user and mount
// namespace, copies up /etc, /run and /var/lib, and inside it
// ~/.config/containerd is bind-mounted over /etc/containerd,
// ~/.local/share/containerd over /var/lib/containerd and
// $XDG_RUNTIME_DIR/containerd over /run/containerd before containerd starts
// (and reads /etc/containerd/config.toml). So the stream processors' keys
// directory /etc/containerd/ocicrypt/keys is ~/.config/containerd/ocicrypt/keys.
//
// Differences from a user's machine, each for the test environment only:
// - the user is `nobody` (uid 65534), with its home under the test's temp dir;
// - rootlesskit needs subordinate ID ranges for the user (newuidmap reads
//   /etc/subuid, /etc/subgid). The suite does not edit those files: the whole
//   rootless tree starts in a private mount namespace of root's where files of
//   the test are bind-mounted over them, giving `nobody` 100000-165535;
// - --net=host instead of slirp4netns, so that containerd reaches the
//   loopback registry.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { listImages } from './cri.ts';
import {
  type Cleanup,
  type ContainerdFlavor,
  type Daemon,
  flavorProgram,
  probeFiles,
  readProcessorCalls,
  renderRootlessConfig,
  startDaemon,
  stopDaemon,
  waitFor,
  writeDecoderProbe,
  writeHostsToml,
  type ProcessorCall,
} from './harness.ts';
import { run } from './run.ts';

export const ROOTLESS_USER = { name: 'nobody', uid: 65534, gid: 65534 } as const;

/** What the rootless suite needs beyond the root one; empty when it can run. */
export function rootlessMissing(): string[] {
  const missing: string[] = [];
  const onPath = (cmd: string): boolean => process.env.PATH?.split(':').some((d) => fs.existsSync(path.join(d, cmd))) ?? false;
  if (!onPath('rootlesskit')) missing.push('rootlesskit (apt-get install rootlesskit)');
  if (!onPath('newuidmap') || !onPath('newgidmap')) missing.push('newuidmap/newgidmap (apt-get install uidmap)');
  if (!onPath('setpriv')) missing.push('setpriv (apt-get install util-linux)');
  // The bind mounts need the files to exist (they do wherever shadow's passwd package is installed).
  for (const f of ['/etc/subuid', '/etc/subgid']) if (!fs.existsSync(f)) missing.push(`${f} (apt-get install passwd)`);
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  if (!passwd.split('\n').some((l) => l.startsWith(`${ROOTLESS_USER.name}:x:${ROOTLESS_USER.uid}:`))) missing.push(`a user ${ROOTLESS_USER.name} with uid ${ROOTLESS_USER.uid}`);
  return missing;
}

export class RootlessContainerd {
  /** The user's home: ~/.config/containerd, ~/.local/share/containerd. */
  readonly home: string;
  /** ~/.config/containerd (= /etc/containerd for containerd). */
  readonly configDir: string;
  /** ~/.config/containerd/ocicrypt/keys (= /etc/containerd/ocicrypt/keys). */
  readonly keysDir: string;
  /** ~/.local/share/containerd (= /var/lib/containerd). */
  readonly dataDir: string;
  readonly socket: string;
  readonly flavor: ContainerdFlavor;
  readonly daemon: Daemon;
  readonly #probeLog: ReturnType<typeof probeFiles>;

  private constructor(dir: string, flavor: ContainerdFlavor, daemon: Daemon) {
    this.home = path.join(dir, 'home');
    this.configDir = path.join(this.home, '.config', 'containerd');
    this.keysDir = path.join(this.configDir, 'ocicrypt', 'keys');
    this.dataDir = path.join(this.home, '.local', 'share', 'containerd');
    this.socket = path.join(dir, 'run', 'containerd', 'containerd.sock');
    this.flavor = flavor;
    this.daemon = daemon;
    this.#probeLog = probeFiles(dir);
  }

  /**
   * Lays out the user's directories under `dir` (which becomes the user's),
   * writes ~/.config/containerd/config.toml from the flavor's rootless example
   * and hosts.toml for the registry, and starts containerd through
   * rootlesskit as the user. Keys go in with setKeys().
   */
  static async start(dir: string, opts: { flavor: ContainerdFlavor; example: string; decoder: string; registryHost: string }, cleanup: Cleanup): Promise<RootlessContainerd> {
    const home = path.join(dir, 'home');
    const config = path.join(home, '.config', 'containerd');
    const runtime = path.join(dir, 'run');
    for (const d of [path.join(config, 'ocicrypt', 'keys'), path.join(home, '.local', 'share', 'containerd'), path.join(runtime, 'containerd'), path.join(dir, 'bin'), ...['cni/bin', 'cni/conf', 'opt', 'image-verifier'].map((d) => path.join(dir, 'env', d))]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    const probe = path.join(dir, 'bin', 'ctd-decoder');
    const files = probeFiles(dir);
    fs.writeFileSync(files.log, '');
    writeDecoderProbe(probe, opts.decoder, files);
    fs.writeFileSync(path.join(config, 'config.toml'), renderRootlessConfig(fs.readFileSync(opts.example, 'utf8'), probe, path.join(dir, 'env'), opts.flavor.configVersion));
    writeHostsToml(path.join(config, 'certs.d'), opts.registryHost);
    const ranges = path.join(dir, 'subid');
    fs.writeFileSync(ranges, `${ROOTLESS_USER.name}:100000:65536\n`);
    await run('chown', ['-R', `${ROOTLESS_USER.uid}:${ROOTLESS_USER.gid}`, dir]);
    fs.chmodSync(dir, 0o755); // the user reaches its home; root's temp dir above stays as it is

    const containerd = flavorProgram(opts.flavor, 'containerd');
    const pathEnv = [...(opts.flavor.binDir ? [opts.flavor.binDir] : []), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
    // As root, in a private mount namespace: the ID ranges, then the user.
    const asRoot = [
      'mount --bind "$1" /etc/subuid && mount --bind "$1" /etc/subgid || exit 1',
      `exec setpriv --reuid=${ROOTLESS_USER.uid} --regid=${ROOTLESS_USER.gid} --clear-groups env -i HOME="$2" XDG_CONFIG_HOME="$2/.config" XDG_DATA_HOME="$2/.local/share" XDG_RUNTIME_DIR="$3" PATH="$4" \\`,
      '  rootlesskit --net=host --copy-up=/etc --copy-up=/run --copy-up=/var/lib --propagation=rslave --state-dir="$3/rootlesskit" \\',
      '  sh -c "$5" sh "$6"',
    ].join('\n');
    // As the user, inside rootlesskit's namespaces (what containerd-rootless.sh does).
    const insideNamespace = [
      'set -e',
      'for d in /etc/containerd /var/lib/containerd /run/containerd; do if [ -L "$d" ]; then rm "$d"; fi; mkdir -p "$d"; done',
      'mount --bind "$XDG_CONFIG_HOME/containerd" /etc/containerd',
      'mount --bind "$XDG_DATA_HOME/containerd" /var/lib/containerd',
      'mount --bind "$XDG_RUNTIME_DIR/containerd" /run/containerd',
      'exec "$1"',
    ].join('\n');
    const daemon = startDaemon(
      `rootless containerd ${opts.flavor.name}`,
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', asRoot, 'sh', ranges, home, runtime, pathEnv, insideNamespace, containerd],
      path.join(dir, 'containerd.log'),
      dir,
    );
    cleanup.add(`stop rootless containerd ${opts.flavor.name}`, () => stopDaemon(daemon, 10_000));
    const ctd = new RootlessContainerd(dir, opts.flavor, daemon);
    await waitFor(`rootless containerd ${opts.flavor.name} CRI`, daemon, 30_000, async () => {
      if (!fs.existsSync(ctd.socket)) return false;
      await listImages(ctd.socket, 2000);
      return true;
    });
    return ctd;
  }

  /** Writes key files into ~/.config/containerd/ocicrypt/keys as the user would (owned by the user, 0600). */
  async setKeys(files: Readonly<Record<string, string | Buffer>>): Promise<void> {
    for (const f of fs.readdirSync(this.keysDir)) fs.rmSync(path.join(this.keysDir, f), { force: true });
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(this.keysDir, name);
      fs.writeFileSync(file, content, { mode: 0o600 });
      fs.chownSync(file, ROOTLESS_USER.uid, ROOTLESS_USER.gid);
    }
  }

  processorCalls(): ProcessorCall[] {
    return readProcessorCalls(this.#probeLog);
  }

  ctr(args: string[]): Promise<string> {
    return run(flavorProgram(this.flavor, 'ctr'), ['--address', this.socket, '--namespace', 'k8s.io', ...args]);
  }

  /** The native snapshotter's directories on the host (under ~/.local/share/containerd). */
  snapshotDirs(): string[] {
    const dir = path.join(this.dataDir, 'io.containerd.snapshotter.v1.native', 'snapshots');
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((d) => path.join(dir, d)) : [];
  }
}
