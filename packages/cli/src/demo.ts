// The main job, first version: a virtual SIM is created, a key pair is generated inside it, the SIM
// signs a CSR, a local demo CA issues the certificate, the certificate is stored back on the SIM, read
// back over APDUs, and used to check a fresh signature. Every step prints what happened.
import { verify, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { byId, createCsr, IoTSafe, IoTSafeKeyOps, MemoryTransport, toPem } from '@iotsafe/device';
import { bytesToHex, ecdsaRawToDer, equalBytes, proprietaryIdText } from '@iotsafe/protocol';
import { newStorageKey, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { connect as connectTls, type TlsSession } from '@iotsafe/tls';
import { createDemoCa } from './demo-ca.js';
import { objectRow } from './describe.js';
import { print, table } from './output.js';

export async function runDemo(options: { dir?: string }): Promise<void> {
  const started = performance.now();
  const base = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'iotsafe-demo-'));
  mkdirSync(base, { recursive: true });
  const simDir = join(base, 'sim');
  const keyFile = join(base, 'storage.key');
  const step = (n: number, text: string) => print(`\n[${n}] ${text}`);

  step(1, 'Create a virtual SIM from the Type I profile');
  const storageKey = newStorageKey();
  writeFileSync(keyFile, `${bytesToHex(storageKey)}\n`, { mode: 0o600 });
  const sim = VirtualSim.create(simDir, TYPE1_PROFILE, { storageKey });
  print(`    SIM directory ${simDir}`);
  print(
    `    storage key   ${keyFile} (a fresh random key for this demo only; private keys in sim.json are sealed with it)`,
  );

  const transport = new MemoryTransport(sim.card);
  const client = await IoTSafe.connect(transport);
  const info = await client.applicationInfo();
  print(
    `    selected ${bytesToHex(client.aid)} on logical channel ${client.channel}: "${proprietaryIdText(info.proprietaryId)}"`,
  );

  step(2, 'Generate a P-256 key pair inside the SIM (container 01)');
  const pair = await client.generateKeyPair(byId('01'));
  print(`    public key ${bytesToHex(pair.point).slice(0, 34)}… (the private key never leaves the SIM)`);

  step(3, 'Build a PKCS#10 request and have the SIM sign it');
  const csr = await createCsr(client, {
    key: pair.privateKey,
    publicKey: pair.point,
    subject: { commonName: 'demo-device-0001', organization: 'iotsafe-stack demo' },
  });
  writeFileSync(join(base, 'device.csr'), toPem(csr, 'CERTIFICATE REQUEST'));
  print(`    ${csr.length}-byte request → ${join(base, 'device.csr')}`);

  step(4, 'Issue the device certificate from a local demo CA (test key, generated for this run)');
  const ca = createDemoCa();
  const certificate = ca.issue(csr);
  const x509 = new X509Certificate(Buffer.from(certificate));
  writeFileSync(join(base, 'device.pem'), toPem(certificate, 'CERTIFICATE'));
  writeFileSync(join(base, 'ca.pem'), toPem(ca.certificate, 'CERTIFICATE'));
  print(
    `    subject "${x509.subject.replace(/\n/g, ', ')}", issuer "${x509.issuer.split('\n').pop()}", valid to ${x509.validTo}`,
  );

  step(5, 'Store the certificates on the SIM (file containers 02 and 03)');
  sim.writeFile(byId('02'), certificate);
  sim.writeFile(byId('03'), ca.certificate);
  const readBack = await client.readFile(byId('02'));
  print(
    `    read back ${readBack.length} bytes over READ FILE: ${equalBytes(readBack, certificate) ? 'identical' : 'DIFFERENT'}`,
  );

  step(6, 'Sign a challenge in the SIM and check it with the certificate');
  const challenge = await client.random(32);
  const signature = await client.sign(pair.privateKey, { message: challenge });
  const valid = verify('sha256', challenge, x509.publicKey, Buffer.from(ecdsaRawToDer(signature)));
  print(`    signature over a 32-byte SIM random challenge verifies with the certificate's key: ${valid}`);
  if (!valid || !equalBytes(readBack, certificate)) throw new Error('the demo found an inconsistency');

  step(
    7,
    'TLS 1.3 with the key in the SIM: a local server (node:tls on 127.0.0.1) that requires a client certificate',
  );
  const tlsResult = await tlsRound(ca, client);
  for (const line of tlsResult.lines) print(`    ${line}`);

  step(8, 'Objects on the SIM');
  const objects = await client.listObjects();
  print(
    table([['class', 'ID', 'label', 'state', 'type', 'details'], ...objects.map(objectRow)]).replace(
      /^/gm,
      '    ',
    ),
  );

  await client.close();
  const elapsed = performance.now() - started;
  print(
    `\nDone: ${client.apduCount + tlsResult.otherClientApdus} APDUs exchanged with the SIM, ${elapsed.toFixed(0)} ms in all. Files are in ${base}`,
  );
  print(`Try: IOTSAFE_STORAGE_KEY_FILE=${keyFile} npm run iotsafe -- --sim ${simDir} objects`);
}

/** One mutual-TLS exchange per offload level with a local server that trusts the demo CA. */
async function tlsRound(
  ca: ReturnType<typeof createDemoCa>,
  client: IoTSafe,
): Promise<{ lines: string[]; otherClientApdus: number }> {
  const serverIdentity = ca.issueServer('localhost');
  const seen: string[] = [];
  const server = tls.createServer(
    {
      key: serverIdentity.keyPem,
      cert: serverIdentity.certificatePem,
      ca: toPem(ca.certificate, 'CERTIFICATE'),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      seen.push(String(socket.getPeerCertificate().subject?.CN));
      socket.on('data', (d) =>
        socket.end(`hello ${socket.getPeerCertificate().subject?.CN}, you sent "${d}"`),
      );
      socket.on('error', () => {});
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const lines: string[] = [];
  // A second client on its own logical channel trusts the final UPDATE to end each session (Thales style).
  const lastUpdateClient = await IoTSafe.connect(client.transport, { sessionEnd: 'lastUpdate' });
  const rounds = [
    ['sign', client, false],
    ['full', client, false],
    ['sign', lastUpdateClient, false],
    ['full', lastUpdateClient, false],
    ['sign', client, true], // resumes the first round's session
  ] as const;
  let firstSession: TlsSession | undefined;
  try {
    for (const [offload, sim, resume] of rounds) {
      const keyOps = await IoTSafeKeyOps.create(sim, {
        privateKey: byId('01'),
        certificateChain: [byId('02')],
        offload,
      });
      const before = sim.apduCount;
      const socket = connectTls({
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        ca: toPem(ca.certificate, 'CERTIFICATE'),
        keyOps,
        ...(resume && firstSession ? { session: firstSession } : {}),
      });
      socket.once('session', (session: TlsSession) => {
        firstSession ??= session;
      });
      await once(socket, 'secureConnect');
      const apdus = sim.apduCount - before;
      socket.write('telemetry 21.5C');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      const how = socket.isSessionReused()
        ? 'resumed session (no certificate)'
        : `sessions end by ${sim.sessionEnding === 'close' ? 'INIT close ' : 'final UPDATE'}`;
      lines.push(
        `${offload.padEnd(4)} offload, ${how}: ${socket.getProtocol()} ${socket.getCipher()?.name}, ${apdus} APDUs, handshake ${socket.handshakeStats.milliseconds.toFixed(1)} ms; server: ${reply}`,
      );
      socket.destroy();
    }
  } finally {
    await lastUpdateClient.close();
    server.close();
  }
  if (seen.length !== rounds.length || seen.some((cn) => cn !== 'demo-device-0001'))
    throw new Error('the server did not see the SIM certificate');
  return { lines, otherClientApdus: lastUpdateClient.apduCount };
}
