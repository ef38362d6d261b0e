export interface ContainerdVersion {
  major: number;
  minor: number;
  patch: number;
  /** As containerd printed it, e.g. "1.6.20~ds1" or "v2.1.0". */
  text: string;
}

/**
 * Reads `containerd --version`: "containerd <package> <version> <revision>",
 * e.g. "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
 * or "containerd github.com/containerd/containerd/v2 v2.1.0 06b99ca8...".
 */
export function parseContainerdVersion(output: string): ContainerdVersion | null {
  const text = output.trim().split(/\s+/)[2];
  const match = text === undefined ? null : /^v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (text === undefined || match === null) return null;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text };
}

export function atLeast(version: ContainerdVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}
