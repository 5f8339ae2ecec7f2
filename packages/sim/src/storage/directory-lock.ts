// One process at a time on a SIM directory. DIR/sim.lock names the owner (pid, process start, command);
// it appears atomically (written aside, then link(2), which fails when the name exists) and goes when
// the owner closes the SIM or exits. A lock whose process is gone (killed, crashed) is taken over.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { ProvisioningError } from '../errors.js';

export const LOCK_FILE = 'sim.lock';

export interface LockHolder {
  pid: number;
  /** What the owner runs: the program and its command words (never option values, which may be keys). */
  command: string;
  /** When it took the lock (ISO 8601). */
  since: string;
  /** Its start time in clock ticks since boot (Linux /proc), which tells a reused pid from the owner. */
  start?: string;
}

/** The SIM directory is held by another live process (or another VirtualSim of this one). */
export class SimLockedError extends ProvisioningError {
  override name = 'SimLockedError';
  constructor(
    readonly directory: string,
    readonly holder: LockHolder,
  ) {
    const who = holder.pid === process.pid ? 'this process' : `process ${holder.pid}`;
    super(
      `${directory} is in use by ${who} (${holder.command}) since ${holder.since}: one process at a time owns a SIM directory; stop it, or reach its card through it (e.g. sim serve --tcp, then --tcp)`,
    );
  }
}

/** The start time of a process (field 22 of /proc/PID/stat), or undefined where /proc cannot tell. */
function processStart(pid: number): { start: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
    return { start: fields[19] ?? '', zombie: fields[0] === 'Z' || fields[0] === 'X' };
  } catch {
    return undefined;
  }
}

function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const proc = processStart(holder.pid);
  if (!proc) return true;
  if (proc.zombie) return false;
  return holder.start === undefined || holder.start === proc.start;
}

/** The program and the plain words of its command line: `main.ts sim serve`, no option values. */
function describeCommand(argv: readonly string[]): string {
  const words: string[] = [];
  for (let i = 2; i < argv.length; i++) {
    const word = argv[i]!;
    if (word.startsWith('-')) {
      if (!word.includes('=')) i++; // skip the option's value, which may be a key or a password
      continue;
    }
    if (/^[a-z][a-z-]{1,23}$/.test(word)) words.push(word);
  }
  return [basename(argv[1] ?? argv[0] ?? 'node'), ...words].join(' ');
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const sameHolder = (a: LockHolder | undefined, b: LockHolder) =>
  a !== undefined && a.pid === b.pid && a.since === b.since && a.start === b.start;

/** The locks this process holds, released when it exits. */
const held = new Set<DirectoryLock>();
let exitHookInstalled = false;

export class DirectoryLock {
  constructor(
    private path: string,
    readonly holder: LockHolder,
  ) {
    held.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const lock of [...held]) lock.release();
      });
    }
  }

  /** The directory was renamed with the lock file in it (VirtualSim.create's staging directory). */
  movedTo(directory: string): void {
    this.path = join(directory, LOCK_FILE);
  }

  release(): void {
    if (!held.delete(this)) return;
    if (sameHolder(readHolder(this.path), this.holder)) rmSync(this.path, { force: true });
  }
}

/**
 * Takes `directory`'s lock for this process, or throws SimLockedError naming the live owner. `command`
 * describes the owner (default: the program and the command words of its command line).
 */
export function lockDirectory(directory: string, command = describeCommand(process.argv)): DirectoryLock {
  const path = join(directory, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    ...(processStart(process.pid) ? { start: processStart(process.pid)!.start } : {}),
  };
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(aside, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw error;
      }
      const owner = readHolder(path);
      if (owner && isAlive(owner)) throw new SimLockedError(directory, owner);
      takeOver(path, owner);
    }
  } finally {
    rmSync(aside, { force: true });
  }
  return new DirectoryLock(path, holder);
}

/**
 * Removes a lock whose owner is gone. It is renamed aside first (atomic), and put back should it turn
 * out to be a live owner's that replaced the dead one meanwhile.
 */
function takeOver(path: string, dead: LockHolder | undefined): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // another process took it over
    throw error;
  }
  const moved = readHolder(aside);
  if (moved && !sameHolder(moved, dead ?? moved) && isAlive(moved)) {
    try {
      linkSync(aside, path);
    } catch {
      // a third process holds it now; the one whose lock this was keeps its own claim
    }
  }
  rmSync(aside, { force: true });
}
