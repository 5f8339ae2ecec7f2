// Atomic replacement of a small file: write a temporary sibling, fsync it, rename it over the target,
// fsync the directory. A crash at any point leaves the old content or the new one (POSIX rename(2)).
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TEMP_MARK = '.tmp-';

export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const temp = `${path}${TEMP_MARK}${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600); // also when a temporary of that name was left with another mode
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  syncDirectory(dirname(path));
}

export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes temporary files a crashed writer left next to `path`. */
export function removeStaleTemporaries(path: string): void {
  const prefix = `${basename(path)}${TEMP_MARK}`;
  for (const name of readdirSync(dirname(path))) {
    if (name.startsWith(prefix)) rmSync(join(dirname(path), name), { force: true });
  }
}
