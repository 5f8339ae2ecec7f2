// moderateHeapGrowth: the percent it sets (argument, environment, default) and what it refuses. What
// the setting does to a worker's memory is measured by the fleet bench (bench/fleet-memory.ts).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { DEFAULT_HEAP_GROWING_PERCENT, HEAP_GROWING_ENV, moderateHeapGrowth } from '@iotsafe/ota';

afterEach(() => {
  delete process.env[HEAP_GROWING_ENV];
  moderateHeapGrowth(0); // V8's own growth again for the rest of this process
});

test('the default is 50 %, the environment overrides it, an argument overrides both', () => {
  assert.equal(DEFAULT_HEAP_GROWING_PERCENT, 50);
  assert.equal(moderateHeapGrowth(), 50);
  process.env[HEAP_GROWING_ENV] = '0';
  assert.equal(moderateHeapGrowth(), 0);
  process.env[HEAP_GROWING_ENV] = '25';
  assert.equal(moderateHeapGrowth(), 25);
  assert.equal(moderateHeapGrowth(80), 80);
  process.env[HEAP_GROWING_ENV] = '';
  assert.equal(moderateHeapGrowth(), 50);
});

test('a percent that is not a whole number from 0 to 1000 is refused, nothing set', () => {
  for (const bad of ['fifty', '-5', '2.5', '5000']) {
    process.env[HEAP_GROWING_ENV] = bad;
    assert.throws(() => moderateHeapGrowth(), RangeError, bad);
  }
  delete process.env[HEAP_GROWING_ENV];
  assert.throws(() => moderateHeapGrowth(-1), /not -1/);
});
