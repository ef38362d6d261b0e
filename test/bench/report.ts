/**
 * Turns the raw results of test/bench/run.sh into the benchmark table:
 *
 *   node test/bench/report.ts RAW_DIR OUT_MD BINARY NODE SIZES_JSON [REFERENCE]
 *
 * RAW_DIR holds hyperfine exports (throughput-N.json, startup-N.json, pooled
 * per label), rss.tsv (group, label, peak KiB, seconds per line) and
 * modules.json (test/bench/loaded-modules.ts). Prints markdown and writes it
 * to OUT_MD. Every figure is a median over runs made in the same bench run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

const [rawDir, outMd, binary, nodeRuntime, sizesJson, reference] = process.argv.slice(2);
if (!rawDir || !outMd || !binary || !nodeRuntime || !sizesJson) throw new Error('usage: report.ts RAW_DIR OUT_MD BINARY NODE SIZES_JSON [REFERENCE]');
const sizes = JSON.parse(sizesJson) as Record<'1m' | '1g' | '4g', number | undefined>;
const MiB = 1024 * 1024;

interface Timing {
  /** Wall-clock seconds of every run, all rounds pooled. */
  times: number[];
  /** user + system seconds, mean over runs. */
  cpu: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function pooledTimings(group: string): Map<string, Timing> {
  const pooled = new Map<string, { times: number[]; cpuSum: number }>();
  for (const file of readdirSync(rawDir!).filter((name) => name.startsWith(`${group}-`) && name.endsWith('.json')).sort()) {
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

/** group -> label -> peak RSS KiB and elapsed seconds of each run. */
function peakRss(): Map<string, { kib: number[]; seconds: number[] }> {
  const rows = new Map<string, { kib: number[]; seconds: number[] }>();
  for (const line of readFileSync(join(rawDir!, 'rss.tsv'), 'utf8').trim().split('\n')) {
    const [group, label, kib, seconds] = line.split('\t');
    const key = `${group}/${label}`;
    const row = rows.get(key) ?? { kib: [], seconds: [] };
    row.kib.push(Number(kib));
    row.seconds.push(Number(seconds));
    rows.set(key, row);
  }
  return rows;
}

const throughput = pooledTimings('throughput');
const startup = pooledTimings('startup');
const rss = peakRss();
const modules = existsSync(join(rawDir, 'modules.json'))
  ? (JSON.parse(readFileSync(join(rawDir, 'modules.json'), 'utf8')) as { packages: string[]; lazyModules: string[]; builtins: string[]; forbidden: string[] })
  : null;

const rssMiB = (group: string, label: string): number | null => {
  const row = rss.get(`${group}/${label}`);
  return row ? median(row.kib) / 1024 : null;
};
const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined ? '—' : value.toFixed(digits));
const med = (timings: Map<string, Timing>, label: string) => {
  const timing = timings.get(label);
  return timing ? median(timing.times) : null;
};
const check = (ok: boolean) => (ok ? 'yes' : '**no**');
const ratio = (value: number) => `${value.toFixed(2)}x`;

const lines: string[] = [];
const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
const stripped = (() => {
  try {
    return execFileSync('file', ['-b', binary!], { encoding: 'utf8' }).includes(', stripped') ? 'stripped' : 'not stripped';
  } catch {
    return 'strip state unknown';
  }
})();
const runCount = (timings: Map<string, Timing>) => Math.min(...[...timings.values()].map((t) => t.times.length));
lines.push(
  `# ctd-decoder benchmark`,
  '',
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpuModel}, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)} at the end.`,
  `Binary under test: \`${binary}\` (${(statSync(binary!).size / MiB).toFixed(1)} MiB, ${stripped}), Node ${process.versions.node} inside.`,
  `Medians of ${runCount(throughput)} runs (throughput) and ${runCount(startup)} runs (start-up), interleaved in rounds; peak RSS is the median of 3 runs (GNU time, %M).`,
  '',
);

const ours1g = med(throughput, 'ctd-decoder');
const enc = med(throughput, 'openssl enc');
const hmac = med(throughput, 'openssl hmac');
const go1g = med(throughput, 'Go reference');
const opensslSum = enc !== null && hmac !== null ? enc + hmac : null;
const mibps = (seconds: number | null, bytes: number | undefined) => (seconds === null || !bytes ? '—' : (bytes / MiB / seconds).toFixed(0));
lines.push(
  `## Throughput: ${((sizes['1g'] ?? 0) / MiB).toFixed(0)} MiB layer, file on stdin, payload on fd 3, output to /dev/null`,
  '',
  '| | median s | MiB/s | CPU s (user+sys) | peak RSS MiB |',
  '|---|---:|---:|---:|---:|',
);
for (const [label, name] of [
  ['ctd-decoder', 'ctd-decoder'],
  ['openssl enc', '`openssl enc -d -aes-256-ctr`'],
  ['openssl hmac', '`openssl dgst -sha256 -mac HMAC`'],
] as const) {
  lines.push(`| ${name} | ${fixed(med(throughput, label), 3)} | ${mibps(med(throughput, label), sizes['1g'])} | ${fixed(throughput.get(label)?.cpu, 3)} | ${fixed(rssMiB('1g', label), 1)} |`);
}
lines.push(`| openssl sum (single-core limit) | ${fixed(opensslSum, 3)} | ${mibps(opensslSum, sizes['1g'])} | | |`);
lines.push(
  go1g === null
    ? '| Go reference | skipped (no Go toolchain) | | | |'
    : `| Go reference (ocicrypt) | ${fixed(go1g, 3)} | ${mibps(go1g, sizes['1g'])} | ${fixed(throughput.get('Go reference')?.cpu, 3)} | ${fixed(rssMiB('1g', 'Go reference'), 1)} |`,
);
lines.push('');

const rss1g = rssMiB('1g', 'ctd-decoder');
const rss4g = rssMiB('4g', 'ctd-decoder');
const run4g = rss.get('4g/ctd-decoder');
if (rss4g !== null && run4g) {
  const seconds = median(run4g.seconds);
  lines.push(
    `## Memory: ${((sizes['4g'] ?? 0) / MiB).toFixed(0)} MiB layer`,
    '',
    '| | elapsed s | MiB/s | peak RSS MiB | vs 1 GiB |',
    '|---|---:|---:|---:|---:|',
    `| ctd-decoder | ${seconds.toFixed(2)} | ${mibps(seconds, sizes['4g'])} | ${rss4g.toFixed(1)} | ${rss1g ? `${(((rss4g - rss1g) / rss1g) * 100).toFixed(1)}%` : '—'} |`,
    '',
  );
}

const ours1m = med(startup, 'ctd-decoder');
const nodeEmpty = med(startup, 'node -e 0');
const seaEmpty = med(startup, 'empty SEA');
const go1m = med(startup, 'Go reference');
lines.push(
  `## Start-up: ${((sizes['1m'] ?? 0) / MiB).toFixed(1)} MiB JWE layer end to end`,
  '',
  '| | median ms | min ms | CPU ms (user+sys) | peak RSS MiB |',
  '|---|---:|---:|---:|---:|',
);
for (const [label, name] of [
  ['ctd-decoder', 'ctd-decoder, 1 MiB layer'],
  ['node -e 0', '`node -e 0` (the embedded Node 24)'],
  ['empty SEA', 'empty SEA (same build, empty script)'],
  ['Go reference', 'Go reference, 1 MiB layer'],
] as const) {
  const timing = startup.get(label);
  if (!timing) continue;
  lines.push(`| ${name} | ${(median(timing.times) * 1000).toFixed(1)} | ${(Math.min(...timing.times) * 1000).toFixed(1)} | ${(timing.cpu * 1000).toFixed(1)} | ${fixed(rssMiB('1m', label), 1)} |`);
}
lines.push('');

const targets: [string, string, boolean | null][] = [];
if (ours1g !== null && go1g !== null) targets.push(['throughput >= 3x the Go reference', `${ratio(go1g / ours1g)} faster`, go1g / ours1g >= 3]);
if (ours1g !== null && opensslSum !== null) {
  targets.push(['time <= 1.1x the openssl single-core sum', ratio(ours1g / opensslSum), ours1g / opensslSum <= 1.1]);
  targets.push(['(stretch) faster than the openssl sum', ratio(ours1g / opensslSum), ours1g < opensslSum]);
}
if (ours1m !== null && nodeEmpty !== null) {
  targets.push(['start-up <= 1.5x `node -e 0`', ratio(ours1m / nodeEmpty), ours1m / nodeEmpty <= 1.5]);
  const cpu = (label: string) => startup.get(label)!.cpu;
  targets.push(['start-up CPU time vs `node -e 0` (for information: steadier on a busy machine)', ratio(cpu('ctd-decoder') / cpu('node -e 0')), null]);
}
if (ours1m !== null && seaEmpty !== null) targets.push(['start-up vs an empty SEA (for information)', ratio(ours1m / seaEmpty), null]);
if (ours1m !== null && go1m !== null) targets.push(['start-up vs the Go reference (for information)', ratio(ours1m / go1m), null]);
if (rss1g !== null) targets.push(['peak RSS <= 64 MiB on 1 GiB', `${rss1g.toFixed(1)} MiB`, rss1g <= 64]);
if (rss1g !== null && rss4g !== null) targets.push(['4 GiB peak RSS within 5% of 1 GiB', `${(((rss4g - rss1g) / rss1g) * 100).toFixed(1)}%`, Math.abs(rss4g - rss1g) / rss1g <= 0.05]);
if (modules !== null) {
  targets.push([
    'a JWE layer loads only the JWE path',
    `packages: ${modules.packages.join(', ') || 'none'}; ${modules.forbidden.length === 0 ? 'no openpgp, PKCS#7, PKCS#11, key provider/gRPC' : `loaded: ${modules.forbidden.join(', ')}`}`,
    modules.forbidden.length === 0,
  ]);
}
const size = (path: string) => `${(statSync(path).size / MiB).toFixed(1)} MiB`;
lines.push(
  '## Binary',
  '',
  `\`${binary}\`: ${size(binary!)}, ${stripped}: the Node ${process.versions.node} runtime (${size(nodeRuntime!)} as npm ships it, ` +
    'symbols stripped by packaging/build-binary.sh; most of the rest is V8, OpenSSL and ICU data) plus the SEA blob (entry point, bundles and their code caches, the PKCS#11 addon).',
  '',
);

lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
for (const [target, measured, met] of targets) lines.push(`| ${target} | ${measured} | ${met === null ? '' : check(met)} |`);
lines.push('');
if (reference === undefined) lines.push('The Go reference was skipped: no Go toolchain, or no ../shared/reference-decoder (see its README.md).', '');

const markdown = lines.join('\n');
writeFileSync(outMd!, markdown);
console.log(markdown);
console.error(`bench: written to ${outMd}`);
