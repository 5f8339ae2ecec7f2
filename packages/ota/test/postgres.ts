// A PostgreSQL server of the test's own: initdb in a temporary directory, postgres on a Unix socket in
// it (no TCP port at all), run as an unprivileged user because postgres refuses root (the test
// creates that user when it runs as root), killed with the test process (setpriv --pdeathsig) and
// stopped by stop(). Where CI=true a missing PostgreSQL is a failure (.ci/run installs it); elsewhere
// the caller skips with the reason.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  /** A connection string for the server's `postgres` database. */
  url: string;
  /** A connection string for a new, empty database. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'iotsafe-pg';

function binaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** Whether PostgreSQL can run here: true, or why not (a failure where CI=true). */
export function postgresAvailable(): true | string {
  if (binaries()) return true;
  if (process.env.CI === 'true') throw new Error('PostgreSQL is required in CI (installed by .ci/run)');
  return 'PostgreSQL is not installed (apt-get install postgresql)';
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, USER], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    if (made.status !== 0 && id('-u').status !== 0) throw new Error(`cannot create the user ${USER}`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

const credentials = (user: { uid: number; gid: number } | undefined) =>
  user ? [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'] : [];

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binaries();
  if (!bin) throw new Error(String(postgresAvailable()));
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'iotsafe-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  chmodSync(dir, 0o700);
  const init = spawnSync(
    'setpriv',
    [
      ...credentials(user),
      join(bin, 'initdb'),
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
    ],
    { encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  // no TCP listener; fsync off: the tests kill workers, not machines
  const server: ChildProcess = spawn(
    'setpriv',
    [
      ...credentials(user),
      '--pdeathsig',
      'KILL',
      join(bin, 'postgres'),
      '-D',
      data,
      '-k',
      dir,
      '-c',
      'listen_addresses=',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  server.stdout!.on('data', (d) => {
    log += d;
  });
  server.stderr!.on('data', (d) => {
    log += d;
  });
  const url = `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`;
  const deadline = Date.now() + 20_000;
  while (!/ready to accept connections/.test(log)) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const psql = (sql: string) =>
    spawnSync('setpriv', [...credentials(user), join(bin, 'psql'), '-h', dir, '-U', 'postgres', '-c', sql], {
      encoding: 'utf8',
    });
  return {
    url,
    async createDatabase(name: string) {
      const made = psql(`CREATE DATABASE "${name}"`);
      if (made.status !== 0) throw new Error(`CREATE DATABASE failed: ${made.stderr}`);
      return `postgresql://postgres@/${name}?host=${encodeURIComponent(dir)}`;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (server.exitCode !== null) return done();
        server.once('exit', done);
        server.kill('SIGINT'); // fast shutdown
      }),
  };
}
