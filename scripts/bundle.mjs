// Test entry points bundled into one ESM file each. Under tsx every child process a test starts pays
// ~2.5 s of CPU to transpile and load hundreds of modules; a bundle starts in ~0.4 s. A bundle holds
// the same sources (the `development` condition, as tsx resolves them); native and optional modules
// stay outside and load from node_modules as usual.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const NATIVE = [
  '@iotsafe/aead-native',
  'better-sqlite3',
  'smartcard',
  'serialport',
  '@serialport/*',
  'pg',
  'pg-native',
];
// CommonJS dependencies inside an ESM bundle still call require()
const REQUIRE =
  "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);";

/** Bundles `entry` (a .ts file) into `outfile` (.mjs). */
export function bundle(entry, outfile) {
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['development'],
    external: NATIVE,
    banner: { js: REQUIRE },
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return outfile;
}

const CLI = fileURLToPath(new URL('../packages/cli/', import.meta.url));

/**
 * The iotsafe CLI for one test run, under packages/cli/.test-bundle/ (one level under the package, so
 * the CLI's `../package.json` resolves as it does from src/).
 */
export function buildCliBundle() {
  return bundle(join(CLI, 'src', 'main.ts'), join(CLI, '.test-bundle', `main-${process.pid}.mjs`));
}

export function removeCliBundle(path) {
  rmSync(path, { force: true });
}
