// The kill test's machinery (rotation-kill.test.ts): a seeded generator for the moments, children that
// load first and run when told (so that a kill is followed by a takeover without the cost of a start),
// spares of them, and the ledger's check that no counter was taken twice.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { OtaStore } from '@iotsafe/ota';
import { ICCID } from './rig.js';

/** Kills in the first moments of each rotation. */
export const KILLS_PER_ROTATION = 2;
/** Children loading while one runs: a kill's takeover rarely waits for a start. */
const SPARES = 2;

/** Every child started, until it exits (the test kills what is left). */
export const children = new Set<ChildProcess>();

// mulberry32: a small seeded generator, so a failing run can be replayed
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Server {
  child: ChildProcess;
  loaded: Promise<void>;
  running(): Promise<void>;
}

/** KILLS_PER_ROTATION moments in the first `window` ms of a rotation, in order. */
export const momentsOf = (next: () => number, window: number) =>
  Array.from({ length: KILLS_PER_ROTATION }, () => next() * window).sort((a, b) => a - b);

export const until = async (time: number) => {
  const wait = time - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
};

/** A child that says "loaded", then "running" once told to go; every line it prints goes to `lines`. */
export function spawnLoaded(args: string[], what: string, output?: string[]): Server {
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', process.execPath, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  if (output) lines.on('line', (line) => output.push(line));
  const seen = (expected: string) => {
    const line = new Promise<void>((resolve, reject) => {
      lines.on('line', (text) => text === expected && resolve());
      child.once('exit', () => reject(new Error(`the ${what} exited before "${expected}"`)));
    });
    line.catch(() => {}); // a spare still loading when the test ends is killed: not a failure
    return line;
  };
  const loaded = seen('loaded');
  return {
    child,
    loaded,
    running: async () => {
      const running = seen('running');
      child.stdin!.write('go\n');
      await running;
    },
  };
}

/** Spares of `spawn` loading while one runs: a kill is followed by a takeover that rarely waits for a start. */
export function sparesOf(spawnOne: () => Server) {
  const spares: Server[] = Array.from({ length: SPARES }, spawnOne);
  return {
    spares,
    async takeOver(): Promise<Server> {
      const next = spares.shift()!;
      spares.push(spawnOne());
      await next.loaded;
      await next.running();
      return next;
    },
  };
}

// a counter is taken once: two attempts share one only when the second resent the first's packet (the
// same step, the first had no PoR: TS 102 225 §5.1.1, the card runs it at most once)
export async function assertCountersTakenOnce(on: OtaStore) {
  const attempts = await on.jobs.ledger(ICCID, { limit: 10_000 });
  const byCounter = new Map<string, typeof attempts>();
  for (const a of attempts)
    byCounter.set(String(a.counter), [...(byCounter.get(String(a.counter)) ?? []), a]);
  for (const [counter, rows] of byCounter) {
    const [last, ...earlier] = [...rows].sort((a, b) => b.attempt - a.attempt);
    for (const a of earlier)
      assert.ok(
        a.jobId === last!.jobId && a.step === last!.step && a.state === 'no_por',
        `counter ${counter} taken twice: ${rows.map((r) => `${r.jobId} ${r.step}/${r.attempt} ${r.state}`)}`,
      );
  }
}

/** Waits for `predicate` over the lines a process printed, from `from` on; the matching line. */
export async function lineAfter(
  lines: string[],
  from: number,
  predicate: (line: string) => boolean,
  what: string,
) {
  for (let i = 0; i < 1000; i++) {
    const line = lines.slice(from).find(predicate);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`never: ${what} (last lines: ${lines.slice(-5).join(' | ')})`);
}
