import { formatBytes, shortDigest } from './text.ts';

/** "decrypting sha256:7765a1b2c3d4 [#######.......]  45%  117.0 MiB of 260.0 MiB", fitted to the terminal width. */
export function progressLine(digest: string, bytes: number, size: number, columns: number): string {
  const percent = size === 0 ? 100 : Math.floor((bytes / size) * 100);
  const label = `decrypting ${shortDigest(digest)}`;
  const figures = `${String(percent).padStart(3)}%  ${formatBytes(bytes)} of ${formatBytes(size)}`;
  const barWidth = Math.min(30, columns - label.length - figures.length - 6);
  if (barWidth < 5) return `${label} ${figures}`.slice(0, Math.max(columns - 1, 0));
  const filled = Math.round((barWidth * percent) / 100);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${figures}`;
}
