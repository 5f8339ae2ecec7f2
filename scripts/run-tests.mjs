#!/usr/bin/env node
// Runs every test file with node's test runner (Node 20's --test does not expand globs itself).
// Usage: npm test [-- <path filter>]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildCliBundle, removeCliBundle } from './bundle.mjs';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect('packages', [])
  .filter((f) => f.includes(`${'/test/'}`))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The CLI tests run the command from one bundle built here (test/helpers/cli.ts; tsx without it).
const bundle = buildCliBundle();
let result;
try {
  result = spawnSync(
    process.execPath,
    ['--conditions=development', '--import', 'tsx', '--test', '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, IOTSAFE_TEST_CLI_BUNDLE: bundle } },
  );
} finally {
  removeCliBundle(bundle);
}
process.exit(result.status ?? 1);
