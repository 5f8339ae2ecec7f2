// Where a CA keeps itself: a directory (ca.pem, ca.key sealed with the storage key and owner-only,
// issued.json with each certificate issued and its revocation, crl.json with the last CRL number), or
// memory (tests, benchmarks). Each change re-reads the records under an exclusive lock file and replaces
// them atomically, so an EST server and `iotsafe ca revoke` in another process never lose each other's
// changes, and the server sees a revocation on the next request.
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CaStoreError } from './errors.js';

export type CertificateRole = 'client' | 'server';

export interface IssuedRecord {
  /** Hex, as node:crypto and OpenSSL print it (upper case). */
  serial: string;
  subject: string;
  notBefore?: string;
  notAfter: string;
  role: CertificateRole;
  /** The SubjectPublicKeyInfo's SHA-256, hex: which key the certificate is for. */
  keySha256?: string;
  revokedAt?: string;
  /** RFC 5280 §5.3.1 CRLReason name. */
  reason?: RevocationReason;
}

export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation';

export interface CaRecords {
  issued: IssuedRecord[];
  crlNumber: number;
}

export interface CaStore {
  /** The records as they are now. */
  read(): CaRecords;
  /** Applies `change` to fresh records and keeps the result, or nothing when it throws. */
  update<T>(change: (records: CaRecords) => T): T;
}

export function memoryStore(): CaStore {
  let records: CaRecords = { issued: [], crlNumber: 0 };
  return {
    read: () => structuredClone(records),
    update(change) {
      const next = structuredClone(records);
      const result = change(next);
      records = next;
      return result;
    },
  };
}

const ISSUED = 'issued.json';
const CRL_STATE = 'crl.json';
const LOCK = 'ca.lock';

export class DirectoryStore implements CaStore {
  constructor(readonly dir: string) {}

  read(): CaRecords {
    return {
      issued: readJson<IssuedRecord[]>(join(this.dir, ISSUED), []),
      crlNumber: readJson<{ number: number }>(join(this.dir, CRL_STATE), { number: 0 }).number,
    };
  }

  update<T>(change: (records: CaRecords) => T): T {
    const release = lock(join(this.dir, LOCK));
    try {
      const records = this.read();
      const before = records.crlNumber;
      const result = change(records);
      writeAtomic(join(this.dir, ISSUED), `${JSON.stringify(records.issued, null, 2)}\n`, 0o644);
      if (records.crlNumber !== before)
        writeAtomic(join(this.dir, CRL_STATE), `${JSON.stringify({ number: records.crlNumber })}\n`, 0o644);
      return result;
    } finally {
      release();
    }
  }
}

/** Makes `dir` for a new CA: it must not exist or be empty. */
export function prepareDirectory(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new CaStoreError(`${dir} exists and is not empty`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function readJson<T>(path: string, absent: T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return absent;
    throw new CaStoreError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CaStoreError(`${path} is damaged (not JSON)`);
  }
}

/** Writes through a temporary file and a rename: a crash leaves the old file or the new one. */
export function writeAtomic(path: string, text: string, mode: number): void {
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w', mode);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/**
 * An exclusive lock file naming its holder's pid; a lock whose holder is gone (killed: SIGKILL leaves
 * it) or older than 30 s is a crashed holder's and is taken over. The pid is written to a file of this
 * process's own, then linked as the lock (link(2) refuses an existing name), so a lock is never seen
 * empty: a holder killed between creating the lock and writing its pid would leave one no-one judges.
 */
function lock(path: string): () => void {
  const deadline = Date.now() + 5000;
  const mine = `${path}.${process.pid}`;
  const fd = openSync(mine, 'w', 0o600);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  for (;;) {
    try {
      linkSync(mine, path);
      rmSync(mine, { force: true });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        rmSync(mine, { force: true });
        throw error;
      }
      try {
        if (Date.now() - statSync(path).mtimeMs > 30_000 || holderGone(readFileSync(path, 'utf8')))
          rmSync(path, { force: true });
      } catch {
        // gone meanwhile: try again
      }
      if (Date.now() > deadline) {
        rmSync(mine, { force: true });
        throw new CaStoreError(`${path} is held by another process`);
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

// The pid a lock names no longer runs (a lock being written, still empty, is not judged)
function holderGone(content: string): boolean {
  const pid = Number.parseInt(content, 10);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
