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

interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Peers die with the test process even when it is killed (a CI timeout, ^C): `setpriv --pdeathsig`
 * (util-linux) has the kernel send SIGKILL to a peer whose parent goes away.
 */
const DIE_WITH_PARENT = ['setpriv', '--pdeathsig', 'KILL'];

/**
 * Spawns a peer, collects its stdout and stderr, and resolves once `ready()` holds (or rejects when it
 * exits first or after 10 s). `group`: the peer runs as a process group (a shell with children) and
 * stop() ends the whole group.
 */
export async function startPeer(
  name: string,
  command: string,
  args: string[],
  ready: (output: string) => boolean,
  options: { stdin?: 'pipe' | 'ignore'; group?: boolean } = {},
): Promise<Started> {
  const child = spawn(DIE_WITH_PARENT[0]!, [...DIE_WITH_PARENT.slice(1), command, ...args], {
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 10_000);
    const check = () => {
      if (ready(out)) {
        clearTimeout(timer);
        resolve();
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`${name} exited: ${out}`));
      } else setTimeout(check, 20);
    };
    check();
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      try {
        if (options.group) process.kill(-child.pid!, 'SIGTERM');
        else child.kill();
      } catch {
        resolve();
      }
    });
  return { child, output: () => out, stop };
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
  const peer = await startPeer(
    'openssl s_server',
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
    (out) => out.includes('ACCEPT'),
    { stdin: 'pipe' }, // s_server exits on EOF
  );
  return { port, process: peer.child, output: peer.output, stop: peer.stop };
}

export interface IsolatedServer {
  /** A fresh connection to the server (through the bridge). */
  connect: () => import('node:net').Socket;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Runs a server that cannot be bound to one address (gnutls-serv listens on every interface) inside
 * a new network namespace that has only a loopback interface, and bridges it to a Unix socket with
 * socat: nothing outside this machine can reach it, and nothing outside the test can either.
 */
export async function startIsolatedServer(
  dir: string,
  command: string,
  ready: RegExp,
): Promise<IsolatedServer> {
  const { connect } = await import('node:net');
  const { existsSync } = await import('node:fs');
  const socketPath = join(dir, `bridge-${Date.now()}-${Math.random().toString(36).slice(2)}.sock`);
  const script = `ip link set lo up; ${DIE_WITH_PARENT.join(' ')} ${command} & exec socat UNIX-LISTEN:${socketPath},fork TCP:127.0.0.1:5556,retry=20,interval=0.1`;
  const peer = await startPeer(
    command.split(' ')[0]!,
    'unshare',
    ['-n', 'sh', '-c', script],
    (out) => ready.test(out) && existsSync(socketPath),
    { stdin: 'pipe', group: true },
  );
  return { connect: () => connect(socketPath), output: peer.output, stop: peer.stop };
}

/** mosquitto on 127.0.0.1 requiring client certificates over TLS 1.3 (the certificate CN is the username). */
export async function startMosquitto(
  dir: string,
  pem: { cert: string; key: string; ca: string },
): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
  const { chmodSync, readFileSync, existsSync } = await import('node:fs');
  const port = await freePort();
  const files = {
    cert: join(dir, 'broker.pem'),
    key: join(dir, 'broker.key'),
    ca: join(dir, 'ca.pem'),
    conf: join(dir, 'mosquitto.conf'),
    log: join(dir, 'mosquitto.log'),
  };
  writeFileSync(files.cert, pem.cert);
  writeFileSync(files.key, pem.key);
  writeFileSync(files.ca, pem.ca);
  writeFileSync(
    files.conf,
    [
      `listener ${port} 127.0.0.1`,
      `cafile ${files.ca}`,
      `certfile ${files.cert}`,
      `keyfile ${files.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      'tls_version tlsv1.3',
      'allow_anonymous false',
      'persistence false',
      `log_dest file ${files.log}`,
      'log_type all',
      '',
    ].join('\n'),
  );
  // Started as root, mosquitto drops to its own user: it must be able to read these files.
  chmodSync(dir, 0o755);
  for (const f of Object.values(files)) if (existsSync(f)) chmodSync(f, 0o644);
  writeFileSync(files.log, '');
  chmodSync(files.log, 0o666);
  const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '');
  const peer = await startPeer(
    'mosquitto',
    'mosquitto',
    ['-c', files.conf],
    () => log().includes(`listen socket on port ${port}`) || /Opening ipv4 listen socket/.test(log()),
  );
  return { port, log, stop: peer.stop };
}

/** The vpcd reader driver from Debian `vsmartcard-vpcd`. */
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

export interface IsolatedPcscd {
  /** PCSCLITE_CSOCK_NAME for PC/SC clients (opensc-tool, scriptor, the smartcard module) of this pcscd. */
  socket: string;
  /** The Unix socket that leads to vpcd (for insertIntoVpcd({ path })). */
  vpcd: string;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * pcscd + vpcd in their own mount and network namespaces: vpcd listens on every interface, so it gets
 * a private loopback and is reached through a Unix-socket bridge; /run/pcscd is a directory of the
 * test, so a pcscd already running on the machine is neither seen nor disturbed.
 */
export async function startIsolatedPcscd(dir: string): Promise<IsolatedPcscd> {
  const { mkdirSync, existsSync } = await import('node:fs');
  const conf = join(dir, 'reader.conf.d');
  const run = join(dir, 'run');
  mkdirSync(conf, { recursive: true });
  mkdirSync(run, { recursive: true });
  writeFileSync(
    join(conf, 'vpcd'),
    [
      'FRIENDLYNAME "Virtual PCD"',
      'DEVICENAME   /dev/null:0x8C7B',
      `LIBPATH      ${VPCD_DRIVER}`,
      'CHANNELID    0x8C7B',
      '',
    ].join('\n'),
  );
  const vpcd = join(dir, 'vpcd.sock');
  const socket = join(run, 'pcscd.comm');
  const script = [
    'ip link set lo up',
    'mkdir -p /run/pcscd',
    `mount --bind ${run} /run/pcscd`,
    `${DIE_WITH_PARENT.join(' ')} pcscd --foreground --config ${conf} &`,
    `exec socat UNIX-LISTEN:${vpcd},fork TCP:127.0.0.1:35963,retry=50,interval=0.1`,
  ].join('\n');
  const peer = await startPeer(
    'pcscd',
    'unshare',
    ['--mount', '--net', 'sh', '-c', script],
    () => existsSync(socket) && existsSync(vpcd),
    { group: true },
  );
  return { socket, vpcd, output: peer.output, stop: peer.stop };
}

export interface NodeTlsServer {
  server: import('node:tls').Server;
  port: number;
  close: () => Promise<void>;
}

/**
 * Node's own tls server on 127.0.0.1 (OpenSSL inside). Failed handshakes and broken connections are
 * the client's business in these tests, so the server ignores them; `onConnection` gets the rest.
 */
export async function startNodeTlsServer(
  options: import('node:tls').TlsOptions,
  onConnection: (socket: import('node:tls').TLSSocket) => void = () => {},
): Promise<NodeTlsServer> {
  const tls = await import('node:tls');
  const server = tls.createServer(options, (socket) => {
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PythonTlsServer {
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * A Python `ssl` server on 127.0.0.1 (OpenSSL underneath, but Python's handling: on a failed handshake
 * it closes at once, with our last records unread, so the kernel answers them with a reset right after
 * the alert). It requires a client certificate from `clientCa` and answers each line with "ok: LINE".
 */
export async function startPythonTlsServer(
  dir: string,
  pem: { cert: string; key: string; clientCa: string },
  version: 'TLSv1_2' | 'TLSv1_3',
): Promise<PythonTlsServer> {
  const port = await freePort();
  const files = {
    cert: join(dir, 'py-server.pem'),
    key: join(dir, 'py-server.key'),
    ca: join(dir, 'py-ca.pem'),
  };
  writeFileSync(files.cert, pem.cert);
  writeFileSync(files.key, pem.key);
  writeFileSync(files.ca, pem.clientCa);
  const script = [
    'import socket, ssl, sys',
    'context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)',
    `context.minimum_version = context.maximum_version = ssl.TLSVersion.${version}`,
    `context.load_cert_chain(${JSON.stringify(files.cert)}, ${JSON.stringify(files.key)})`,
    `context.load_verify_locations(${JSON.stringify(files.ca)})`,
    'context.verify_mode = ssl.CERT_REQUIRED',
    'listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))',
    'print("READY", flush=True)',
    'while True:',
    '    raw, _ = listener.accept()',
    '    try:',
    '        conn = context.wrap_socket(raw, server_side=True)',
    '        line = conn.recv(1024)',
    '        conn.sendall(b"ok: " + line)',
    '        conn.close()',
    '    except (ssl.SSLError, OSError) as error:',
    '        print("refused:", error, flush=True)',
    '        raw.close()',
  ].join('\n');
  const scriptFile = join(dir, 'tls-server.py');
  writeFileSync(scriptFile, script);
  const peer = await startPeer('python3 ssl server', 'python3', [scriptFile, String(port)], (out) =>
    out.includes('READY'),
  );
  return { port, output: peer.output, stop: peer.stop };
}

export interface MosquittoListener {
  /** PEM files: the broker's chain (leaf first) and key, and the CA clients must chain to. */
  certificates?: { cert: string; key: string; ca: string };
  /** PSK listener: the hint and the identity:hex lines of psk_file. */
  psk?: { hint: string; identities: Record<string, string> };
  /** tls_version: in mosquitto 2.0 the lowest version accepted (tlsv1.2 still takes TLS 1.3). */
  tlsVersion: 'tlsv1.2' | 'tlsv1.3';
  ciphers?: string;
  requireCertificate?: boolean;
}

/**
 * mosquitto on 127.0.0.1 with one TLS listener as `listener` describes (an RSA server chain, a PSK
 * listener, ...). Clients authenticate by certificate (CN as username) or PSK identity.
 */
export async function startMosquittoListener(
  dir: string,
  listener: MosquittoListener,
): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
  const { chmodSync, readFileSync, existsSync } = await import('node:fs');
  const port = await freePort();
  const file = (name: string) => join(dir, name);
  const conf = [`listener ${port} 127.0.0.1`, `tls_version ${listener.tlsVersion}`];
  if (listener.certificates) {
    writeFileSync(file('broker.pem'), listener.certificates.cert);
    writeFileSync(file('broker.key'), listener.certificates.key);
    writeFileSync(file('ca.pem'), listener.certificates.ca);
    conf.push(`cafile ${file('ca.pem')}`, `certfile ${file('broker.pem')}`, `keyfile ${file('broker.key')}`);
    if (listener.requireCertificate) conf.push('require_certificate true', 'use_identity_as_username true');
  }
  if (listener.psk) {
    const lines = Object.entries(listener.psk.identities).map(([id, hex]) => `${id}:${hex.toLowerCase()}`);
    writeFileSync(file('psk.txt'), `${lines.join('\n')}\n`);
    conf.push(
      `psk_hint ${listener.psk.hint}`,
      `psk_file ${file('psk.txt')}`,
      'use_identity_as_username true',
    );
  }
  if (listener.ciphers) conf.push(`ciphers ${listener.ciphers}`);
  conf.push(
    'allow_anonymous false',
    'persistence false',
    `log_dest file ${file('mosquitto.log')}`,
    'log_type all',
    '',
  );
  writeFileSync(file('mosquitto.conf'), conf.join('\n'));
  // Started as root, mosquitto drops to its own user: it must be able to read these files.
  chmodSync(dir, 0o755);
  for (const name of ['broker.pem', 'broker.key', 'ca.pem', 'psk.txt', 'mosquitto.conf'])
    if (existsSync(file(name))) chmodSync(file(name), 0o644);
  writeFileSync(file('mosquitto.log'), '');
  chmodSync(file('mosquitto.log'), 0o666);
  const log = () => (existsSync(file('mosquitto.log')) ? readFileSync(file('mosquitto.log'), 'utf8') : '');
  const peer = await startPeer('mosquitto', 'mosquitto', ['-c', file('mosquitto.conf')], () =>
    /Opening ipv4 listen socket/.test(log()),
  );
  return { port, log, stop: peer.stop };
}
