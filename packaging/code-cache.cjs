'use strict';
// Makes the V8 code cache packaging/sea-main.cjs runs a bundle with:
//
//   node <the binary's V8 flags> packaging/code-cache.cjs BUNDLE CACHE [ARGS...]
//
// compiles BUNDLE exactly as sea-main.cjs does, runs it with ARGS as its
// command line (and this process's stdin, stdout and fd 3), and when the
// process exits with status 0 writes CACHE. V8 puts every function compiled
// so far into the cache, so a run that decodes a layer caches the decode
// path, not just top-level code. The flags must be the binary's execArgv, or
// V8 rejects the cache at run time.
const { readFileSync, writeFileSync } = require('node:fs');
const { basename } = require('node:path');
const { Script } = require('node:vm');

const [bundlePath, cachePath, ...args] = process.argv.slice(2);
if (!bundlePath || !cachePath) throw new Error('usage: code-cache.cjs BUNDLE CACHE [ARGS...]');
const source = readFileSync(bundlePath, 'latin1');
// esbuild escapes non-ASCII characters; sea-main.cjs relies on that to read the bundle as latin1.
if (/[^\x00-\x7f]/.test(source)) throw new Error(`${bundlePath} is not ASCII`);

const script = new Script(source, { filename: basename(bundlePath) });
process.argv.splice(2, Infinity, ...args);
process.on('exit', (code) => {
  if (code === 0) writeFileSync(cachePath, script.createCachedData());
});
const bundleModule = { exports: {} };
script.runInThisContext()(bundleModule.exports, require, bundleModule, __filename, __dirname);
