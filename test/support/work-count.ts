/**
 * Counts the work a call does without timing it: V8's precise block coverage
 * (the inspector's Profiler domain) counts how often each block of code ran.
 * The sum over the project's and its libraries' code is a deterministic
 * measure of the JavaScript work; native work (JSON.parse, base64, OpenSSL)
 * is not counted, and is linear by construction. Coverage must start before
 * the code it counts is compiled: import this module first, then the code
 * under test dynamically.
 */
import { Session } from 'node:inspector/promises';

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });

/** Blocks of src/ and node_modules/ code executed by `run` (taking coverage resets the counters). */
export async function blocksExecuted(run: () => unknown): Promise<number> {
  await session.post('Profiler.takePreciseCoverage');
  await run();
  const { result } = await session.post('Profiler.takePreciseCoverage');
  let blocks = 0;
  for (const script of result) {
    if (!/\/(src|node_modules)\//.test(script.url) || script.url.includes('/test/')) continue;
    for (const fn of script.functions) for (const range of fn.ranges) blocks += range.count;
  }
  return blocks;
}

/**
 * The work at sizes n, 2n and 4n, and the largest ratio from one size to the
 * next: about 2 for linear work, 4 for quadratic.
 */
export async function growth(sizes: readonly [number, number, number], run: (size: number) => unknown): Promise<{ work: number[]; ratio: number }> {
  const work: number[] = [];
  for (const size of sizes) work.push(await blocksExecuted(() => run(size)));
  return { work, ratio: Math.max(work[1]! / work[0]!, work[2]! / work[1]!) };
}
