// Real third-party peers for interop tests, started on 127.0.0.1 and stopped by the test. Where
// CI=true a missing peer is a failure; elsewhere the test is skipped with the reason.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export function peerAvailable(command: string, args: string[] = ['version']): true | string {
  const ok = spawnSync(command, args, { stdio: 'ignore' }).error === undefined;
  if (ok) return true;
  if (process.env.CI === 'true') throw new Error(`${command} is required in CI (installed by .ci/run)`);
  return `${command} is not installed`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface OpensslServer {
  port: number;
  process: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** `openssl s_server` on 127.0.0.1 with the given extra arguments; stdin is kept open (it exits on EOF). */
export async function startOpensslServer(
  dir: string,
  pem: { cert: string; key: string; ca: string },
  extra: string[],
): Promise<OpensslServer> {
  const port = await freePort();
  const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, pem.cert);
  writeFileSync(files.key, pem.key);
  writeFileSync(files.ca, pem.ca);
  const child = spawn(
    'openssl',
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      files.cert,
      '-key',
      files.key,
      '-CAfile',
      files.ca,
      ...extra,
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openssl s_server did not start: ${out}`)), 10_000);
    const check = () => {
      if (out.includes('ACCEPT')) {
        clearTimeout(timer);
        resolve();
      } else setTimeout(check, 20);
    };
    check();
  });
  return {
    port,
    process: child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
