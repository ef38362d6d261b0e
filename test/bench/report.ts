/**
 * Turns the raw results of test/bench/run.sh into the benchmark table:
 *
 *   node test/bench/report.ts RAW_DIR OUT_MD BINARY NODE SIZES_JSON
 *
 * RAW_DIR holds hyperfine exports (startup-N.json, throughput-512m-N.json,
 * throughput-4g-N.json, pooled per label), memory.tsv (layer, label, peak
 * anon KiB, peak RSS KiB, peak file KiB, seconds per line),
 * openssl-speed.tsv, modules.json (test/bench/loaded-modules.ts),
 * version-page-cache.txt (fincore) and cri.json (test/bench/cri-pull.ts).
 * Prints markdown and writes it to OUT_MD. Every figure is a median over
 * runs made in this bench run; every ratio compares figures of this run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

const [rawDir, outMd, binary, nodeRuntime, sizesJson] = process.argv.slice(2);
if (!rawDir || !outMd || !binary || !nodeRuntime || !sizesJson) throw new Error('usage: report.ts RAW_DIR OUT_MD BINARY NODE SIZES_JSON');
const sizes = JSON.parse(sizesJson) as Record<string, number>;
const MiB = 1024 * 1024;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** label -> wall seconds of every run (all rounds pooled) and mean CPU seconds. */
function pooledTimings(group: string): Map<string, { times: number[]; cpu: number }> {
  const pooled = new Map<string, { times: number[]; cpuSum: number }>();
  for (const file of readdirSync(rawDir!).filter((name) => new RegExp(`^${group}-\\d+\\.json$`).test(name)).sort()) {
    const { results } = JSON.parse(readFileSync(join(rawDir!, file), 'utf8')) as { results: { command: string; times: number[]; user: number; system: number }[] };
    for (const result of results) {
      const entry = pooled.get(result.command) ?? { times: [], cpuSum: 0 };
      entry.times.push(...result.times);
      entry.cpuSum += (result.user + result.system) * result.times.length;
      pooled.set(result.command, entry);
    }
  }
  return new Map([...pooled].map(([label, { times, cpuSum }]) => [label, { times, cpu: cpuSum / times.length }]));
}

const startup = pooledTimings('startup');
const throughput = { 'layer-512m': pooledTimings('throughput-512m'), 'layer-4g': pooledTimings('throughput-4g') };
const medianOf = (timings: Map<string, { times: number[] }>, label: string) => {
  const timing = timings.get(label);
  return timing ? median(timing.times) : null;
};

/** "layer/label" -> medians of peak anon, peak RSS, peak file pages (MiB) and seconds. */
const memory = new Map<string, { anon: number; rss: number; file: number; seconds: number }>();
{
  const rows = new Map<string, number[][]>();
  for (const line of readFileSync(join(rawDir, 'memory.tsv'), 'utf8').trim().split('\n')) {
    const [layer, label, ...values] = line.split('\t');
    const key = `${layer}/${label}`;
    rows.set(key, [...(rows.get(key) ?? []), values.map(Number)]);
  }
  for (const [key, runs] of rows) {
    const column = (i: number) => median(runs.map((run) => run[i]!));
    memory.set(key, { anon: column(0) / 1024, rss: column(1) / 1024, file: column(2) / 1024, seconds: column(3) });
  }
}

const speed = new Map(
  readFileSync(join(rawDir, 'openssl-speed.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t'))
    .map(([name, bytesPerSecond]) => [name!, Number(bytesPerSecond)]),
);
const sha256 = speed.get('sha256')!;
const aes = speed.get('aes-256-ctr')!;
const nodeEmpty = medianOf(startup, 'node -e 0')!;

const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits));
const ratio = (value: number | null) => (value === null ? '—' : `${value.toFixed(2)}x`);
const met = (ok: boolean) => (ok ? 'yes' : '**no**');

const lines: string[] = [];
const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
lines.push(
  '# ctd-decoder benchmark',
  '',
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpuModel}, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)} at the end.`,
  `Under test: \`${binary}\` (${(statSync(binary!).size / MiB).toFixed(1)} MiB, Node ${process.versions.node} inside) against the upstream decoder ` +
    '(imgcrypt 1.1.11 `ctd-decoder` from Debian trixie, Go 1.24), both reading the layer file on stdin and the payload on fd 3, output to /dev/null.',
  `openssl speed (16 KiB blocks): SHA-256 ${(sha256 / 1e9).toFixed(2)} GB/s, AES-256-CTR ${(aes / 1e9).toFixed(2)} GB/s. ` +
    'Two-core bound of a layer: its HMAC-SHA256 alone (AES-CTR beside it on the other core) plus one `node -e 0`; ' +
    '"bound as timed now" is `openssl dgst -sha256 -mac HMAC` of the same file, timed in the same rounds, plus one `node -e 0`.',
  '',
);

const targets: [string, string, boolean | null][] = [];

lines.push(
  '## Throughput',
  '',
  '| layer | ctd-decoder s | MiB/s | CPU s | upstream s | MiB/s | CPU s | upstream / ours | two-core bound s | ours / bound | bound as timed now s | ours / that |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
);
for (const [layer, name] of [
  ['layer-512m', '512 MiB'],
  ['layer-4g', '4 GiB'],
] as const) {
  const ours = medianOf(throughput[layer], 'ctd-decoder');
  const theirs = medianOf(throughput[layer], 'upstream');
  const bytes = sizes[layer];
  if (ours === null || theirs === null || !bytes) continue;
  const bound = bytes / sha256 + nodeEmpty;
  const mibps = (seconds: number) => (bytes / MiB / seconds).toFixed(0);
  const cpu = (label: string) => fixed(throughput[layer].get(label)?.cpu, 3);
  const hmacNow = medianOf(throughput[layer], 'openssl hmac');
  const boundNow = hmacNow === null ? null : hmacNow + nodeEmpty;
  lines.push(
    `| ${name} | ${ours.toFixed(3)} | ${mibps(ours)} | ${cpu('ctd-decoder')} | ${theirs.toFixed(3)} | ${mibps(theirs)} | ${cpu('upstream')} | ${ratio(theirs / ours)} | ` +
      `${bound.toFixed(3)} | ${ratio(ours / bound)} | ${fixed(boundNow, 3)} | ${ratio(boundNow === null ? null : ours / boundNow)} |`,
  );
  targets.push([`${name}: >= 4x the upstream decoder`, ratio(theirs / ours), theirs / ours >= 4]);
  targets.push([`${name}: within 1.2x of the two-core bound`, ratio(ours / bound), ours / bound <= 1.2]);
}
lines.push('');

lines.push('## Start-up', '', '| | median ms | min ms | CPU ms (user+sys) | vs `node -e 0` |', '|---|---:|---:|---:|---:|');
for (const [label, name] of [
  ['ctd-decoder', 'ctd-decoder, 1 MiB JWE layer end to end'],
  ['upstream', 'upstream decoder, same layer'],
  ['node -e 0', '`node -e 0` (the embedded Node runtime)'],
  ['node -e crypto', '`node -e "require(\'node:crypto\')"`: the floor of any decoder on this runtime'],
  ['empty SEA', 'empty SEA (same build, empty script)'],
  ['crypto SEA', 'SEA that only loads `node:crypto` (same build): the floor of a decoder shipped this way'],
  ['ctd-decoder --version', '`ctd-decoder --version`'],
  ['node --version', '`node --version`'],
] as const) {
  const timing = startup.get(label);
  if (!timing) continue;
  const value = median(timing.times);
  lines.push(`| ${name} | ${(value * 1000).toFixed(1)} | ${(Math.min(...timing.times) * 1000).toFixed(1)} | ${(timing.cpu * 1000).toFixed(1)} | ${ratio(value / nodeEmpty)} |`);
}
lines.push('');
const ours1m = medianOf(startup, 'ctd-decoder')!;
const version = medianOf(startup, 'ctd-decoder --version')!;
const upstream1m = medianOf(startup, 'upstream')!;
targets.push(['1 MiB layer within 1.15x of `node -e 0`', ratio(ours1m / nodeEmpty), ours1m / nodeEmpty <= 1.15]);
targets.push(['`--version` within 1.05x of `node -e 0`', ratio(version / nodeEmpty), version / nodeEmpty <= 1.05]);
const cryptoFloor = medianOf(startup, 'node -e crypto');
if (cryptoFloor !== null) targets.push(['1 MiB layer vs `node -e "require(\'node:crypto\')"` (for information: the floor with crypto loaded)', ratio(ours1m / cryptoFloor), null]);
const cryptoSea = medianOf(startup, 'crypto SEA');
if (cryptoSea !== null) targets.push(['1 MiB layer vs a SEA that only loads `node:crypto` (the proposed start-up measure)', ratio(ours1m / cryptoSea), null]);
const emptySea = medianOf(startup, 'empty SEA');
if (emptySea !== null) targets.push(['`--version` vs an empty SEA (for information: the floor of a single executable)', ratio(version / emptySea), null]);
targets.push(['1 MiB layer vs the upstream decoder (for information)', ratio(ours1m / upstream1m), null]);

lines.push(
  '## Memory (peak, sampled every ms from /proc/PID/status; median of 3)',
  '',
  '| layer | ctd-decoder anon MiB | RSS MiB | of which file MiB | upstream anon MiB | RSS MiB |',
  '|---|---:|---:|---:|---:|---:|',
);
const anonPeaks: number[] = [];
for (const [layer, name] of [
  ['layer-1m', '1 MiB'],
  ['layer-512m', '512 MiB'],
  ['layer-4g', '4 GiB'],
] as const) {
  const ours = memory.get(`${layer}/ctd-decoder`);
  const theirs = memory.get(`${layer}/upstream`);
  if (!ours) continue;
  anonPeaks.push(ours.anon);
  lines.push(`| ${name} | ${ours.anon.toFixed(1)} | ${ours.rss.toFixed(1)} | ${ours.file.toFixed(1)} | ${fixed(theirs?.anon, 1)} | ${fixed(theirs?.rss, 1)} |`);
}
for (const [key, name] of [['empty/node -e 0', '`node -e 0`']] as const) {
  const row = memory.get(key);
  if (row) lines.push(`| ${name} | ${row.anon.toFixed(1)} | ${row.rss.toFixed(1)} | ${row.file.toFixed(1)} | | |`);
}
lines.push('');
const maxAnon = Math.max(...anonPeaks);
targets.push(['peak anonymous memory <= 24 MiB at every size', `${maxAnon.toFixed(1)} MiB at most`, maxAnon <= 24]);
targets.push(['peak anonymous memory flat from 512 MiB to 4 GiB', anonPeaks.length === 3 ? `${(anonPeaks[2]! - anonPeaks[1]!).toFixed(1)} MiB apart` : '—', anonPeaks.length === 3 ? Math.abs(anonPeaks[2]! - anonPeaks[1]!) <= 1 : null]);

// The executable: its largest ELF sections, and how much of it one `--version` start reads.
const sections = (() => {
  try {
    return execFileSync('readelf', ['-SW', binary!], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => ({ name: match[1]!, size: parseInt(match[2]!, 16) }))
      .sort((a, b) => b.size - a.size)
      .slice(0, 6);
  } catch {
    return [];
  }
})();
const pageCache = existsSync(join(rawDir, 'version-page-cache.txt')) ? Number(readFileSync(join(rawDir, 'version-page-cache.txt'), 'utf8').trim()) : NaN;
const decodeFile = memory.get('layer-1m/ctd-decoder')?.file;
const nodeFile = memory.get('empty/node -e 0')?.file;
lines.push(
  '## The executable',
  '',
  `\`${binary}\`: ${(statSync(binary!).size / MiB).toFixed(1)} MiB (the Node runtime as npm ships it: ${(statSync(nodeRuntime!).size / MiB).toFixed(1)} MiB, ` +
    'symbols stripped, plus the SEA blob). Largest sections: ' +
    sections.map((section) => `${section.name} ${(section.size / MiB).toFixed(1)} MiB`).join(', ') +
    '. ' +
    `One \`--version\` start from a cold page cache reads ${fixed(pageCache / MiB, 1)} MiB of it (with the kernel's read-ahead); ` +
    `a 1 MiB decode maps and touches ${fixed(decodeFile, 1)} MiB of file pages, \`node -e 0\` ${fixed(nodeFile, 1)} MiB ` +
    '(file pages: shared by every run of the file, dropped by the kernel under pressure, not charged as private memory).',
  '',
);

const cri = existsSync(join(rawDir, 'cri.json'))
  ? (JSON.parse(readFileSync(join(rawDir, 'cri.json'), 'utf8')) as { layers: number; compressedBytes: number; pulls: { ours: number[]; upstream: number[] } })
  : null;
if (cri !== null) {
  const ours = median(cri.pulls.ours);
  const theirs = median(cri.pulls.upstream);
  lines.push(
    `## containerd 1.6: CRI PullImage of a ${cri.layers}-layer JWE-encrypted gzip image (${(cri.compressedBytes / MiB).toFixed(0)} MiB), pull + unpack`,
    '',
    '| | median s | runs |',
    '|---|---:|---:|',
    `| with ctd-decoder | ${ours.toFixed(2)} | ${cri.pulls.ours.length} |`,
    `| with the upstream decoder | ${theirs.toFixed(2)} | ${cri.pulls.upstream.length} |`,
    '',
  );
  targets.push(['image pull + unpack through containerd, upstream / ours (for information)', `${ratio(theirs / ours)}, ${(theirs - ours).toFixed(2)} s saved per image`, null]);
}

const modules = existsSync(join(rawDir, 'modules.json'))
  ? (JSON.parse(readFileSync(join(rawDir, 'modules.json'), 'utf8')) as { packages: string[]; forbidden: string[] })
  : null;
if (modules !== null) {
  targets.push([
    'a JWE layer loads only the JWE path',
    `packages: ${modules.packages.join(', ') || 'none'}; ${modules.forbidden.length === 0 ? 'nothing of OpenPGP, PKCS#7, PKCS#11, key providers, operator commands' : `loaded: ${modules.forbidden.join(', ')}`}`,
    modules.forbidden.length === 0,
  ]);
}

lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
for (const [target, measured, ok] of targets) lines.push(`| ${target} | ${measured} | ${ok === null ? '' : met(ok)} |`);
lines.push('');

const markdown = lines.join('\n');
writeFileSync(outMd!, markdown);
console.log(markdown);
console.error(`bench: written to ${outMd}`);
